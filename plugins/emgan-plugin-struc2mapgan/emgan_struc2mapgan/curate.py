"""Curation of training targets: experimental map + fitted model → boxed, masked, 1 Å map in the
map's own units, kept when it agrees with the model, and assigned to a set that shares no protein
with the others.

For each pair, as the struc2mapGAN paper curates its targets:

1. Box and mask, as ``phenix.map_box`` with the model and ``mask_atoms=True``: a box around the
   atoms with a margin, the map multiplied by a mask around the atoms. map_box's defaults are a
   3 Å box cushion and a binary mask of radius 3 Å (``mask_atoms_atom_radius``); with its
   ``soft_mask`` option the mask edge is a Gaussian fall-off of ``soft_mask_radius`` 3 Å and the
   cushion and radius grow by that much. Here the mask is 1 within ``mask_radius`` (3 Å) of an
   atom and falls to 0 over ``mask_edge`` (3 Å) beyond it along a raised cosine, and the margin
   defaults to radius + edge (6 Å) so the mask is never cut by the box; ``mask_edge=0`` gives
   map_box's binary mask (the authors' call), ``mask=False`` no mask at all.
2. Resample to ``voxel_size`` Å on a grid whose origin lies on the ``voxel_size`` lattice. The
   target is written in the map's own units (masked: the background is exactly 0); the task
   normalises it (``task/struc2mapgan``: min–max, as the authors after map_box, or percentile).
3. Simulate the model on that grid (Gaussian, ChimeraX molmap convention, ``sim_resolution`` 2 Å,
   min–max normalised) and measure ChimeraX ``measure correlation <experimental> inMap
   <simulated>``: the experimental map's values at the simulated map's grid points above its
   initial ChimeraX contour level (the level enclosing 1 % of the grid points), correlation about
   zero (the first number ChimeraX prints, the one the authors' filter reads). Pairs below
   ``threshold`` (0.65 in the paper) are rejected, as are pairs whose stated resolution lies
   outside optional limits (the paper trains on 2.17–3.9 Å maps).

   The experimental values are taken in the map's own units (boxed, masked, resampled), where
   zero is the map's solvent level. On the min–max normalised target the solvent sits near
   0.3 and correlation about zero at the simulated map's peaks is ≈ 0.93 whether or not the model
   is in its density: EMD-2566 with 3J6B chain 9 gives 0.935 fitted and 0.919 / 0.920 / 0.932
   with the model moved 3 / 6 / 10 Å, against 0.857 fitted and 0.573 / 0.447 / 0.393 moved in the
   map's own units. The manifest keeps both (``correlation``, ``correlation_minmax``).

Then the pairs are clustered by sequence identity (≥ 30 % between any two chains links two pairs,
see :mod:`.identity`) and each cluster goes whole into train, val or test, so no two sets share a
chain at that identity. The manifest records each pair's cluster and, as evidence, the most
identical pair in any other set.
"""

from __future__ import annotations

import csv
import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from emgan_core.api import (
    EmganError,
    GaussianSimulator,
    Volume,
    atomic_output,
    check_output,
    normalise,
    progress,
    read_map,
    read_structure,
    resample_to_grid,
    soft_mask,
    write_map,
)

from .identity import SPLITS, assign_splits, chain_sequences, identity_clusters, pair_identities

MANIFEST_COLUMNS = ["label", "split", "kept", "cluster", "correlation", "correlation_about_mean",
                    "correlation_minmax", "correlation_points", "resolution", "model", "target", "map", "box_A",
                    "atoms_outside_map", "chains", "nearest_other_split", "note"]


@dataclass
class Curated:
    """One manifest row. ``correlation``: ChimeraX correlation about zero (the filter's value);
    ``correlation_about_mean``: the same points about the mean; ``correlation_minmax``: correlation
    about zero with the min–max normalised target instead (for comparison, not used);
    ``correlation_points``: grid points of the simulated map above its contour level that it used;
    ``cluster``: sequence-identity cluster number; ``nearest_other_split``: the most identical pair
    in another set, with its chain identity in percent."""

    label: str
    split: str
    kept: bool
    correlation: float
    correlation_about_mean: float
    correlation_minmax: float
    correlation_points: int
    resolution: float
    model: str
    target: str
    map: str
    box_A: str
    atoms_outside_map: int
    cluster: int = 0
    chains: str = ""
    nearest_other_split: str = ""
    note: str = ""


def box_around_atoms(volume: Volume, xyz: np.ndarray, margin: float) -> tuple[Volume, int, bool]:
    """The sub-volume covering the atoms ± ``margin`` Å, on the map's own lattice.

    ``xyz``: (n, 3) atom positions in Å, (x, y, z). Returns (box, atoms outside the map, whether the
    map edge clipped the box).
    """
    idx = (xyz - volume.origin) / volume.voxel_size  # (n, 3) fractional (x, y, z) indices
    shape_xyz = np.array(volume.shape[::-1])
    outside = int(np.sum(np.any((idx < -0.5) | (idx > shape_xyz - 0.5), axis=1)))
    lo = np.floor((xyz.min(0) - margin - volume.origin) / volume.voxel_size).astype(int)
    hi = np.ceil((xyz.max(0) + margin - volume.origin) / volume.voxel_size).astype(int) + 1
    clipped = bool(np.any(lo < 0) or np.any(hi > shape_xyz))
    lo, hi = np.maximum(lo, 0), np.minimum(hi, shape_xyz)
    if np.any(hi <= lo):
        raise EmganError("the model lies outside the map: no overlap")
    data = volume.data[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]]
    return Volume(data, volume.voxel_size, volume.origin + lo * volume.voxel_size), outside, clipped


def lattice_grid(box: Volume, voxel_size: float) -> Volume:
    """An empty grid of ``voxel_size`` Å inside ``box`` whose origin is a multiple of the voxel size."""
    first = np.ceil(box.origin / voxel_size - 1e-6) * voxel_size
    last = box.origin + (np.array(box.shape[::-1]) - 1) * box.voxel_size
    n_xyz = np.floor((last - first) / voxel_size + 1e-6).astype(int) + 1
    return Volume(np.zeros(n_xyz[::-1], np.float32), voxel_size, first)


def curate_pair(map_path, model_path, out_path, *, resolution: float, label: str, split: str = "",
                margin: float | None = None, voxel_size: float = 1.0, mask: bool = True,
                mask_radius: float = 3.0, mask_edge: float = 3.0, threshold: float = 0.65,
                sim_resolution: float = 2.0, min_resolution: float | None = None,
                max_resolution: float | None = None) -> Curated:
    """Curate one pair (module docstring), write its target map atomically, return its row.

    ``margin`` (Å): box margin around the atoms; default ``mask_radius + mask_edge`` when masking,
    else 3 Å (map_box's cushion). ``min_resolution`` / ``max_resolution`` (Å): keep only pairs whose
    stated ``resolution`` lies in [min, max] (either may be None).
    """
    from emgan_core.api import chimerax_correlation

    if margin is None:
        margin = mask_radius + mask_edge if mask else 3.0
    exp = read_map(map_path)
    atoms = read_structure(model_path)
    box, outside, clipped = box_around_atoms(exp, atoms.xyz, margin)
    target = resample_to_grid(box, lattice_grid(box, voxel_size))
    weights = soft_mask(target, atoms.xyz, mask_radius, mask_edge) if mask else None
    own_units = target.with_data(target.data * weights) if mask else target  # what is written
    sim = GaussianSimulator(resolution=sim_resolution, convention="molmap",
                            normalise="minmax").simulate(atoms, grid=own_units)
    cc = chimerax_correlation(output=sim, reference=own_units).values
    minmax = own_units.with_data(normalise(own_units.data, "minmax"))  # the paper's target (min-max after map_box)
    cc_minmax = chimerax_correlation(output=sim, reference=minmax).values["cc"]
    notes = []
    if outside:
        notes.append(f"{outside} atoms outside the map")
    if clipped:
        notes.append("box clipped by the map edge")
    kept = cc["cc"] >= threshold
    if not kept:
        notes.append(f"rejected: correlation {cc['cc']:.3f} < {threshold}")
    if min_resolution is not None and resolution < min_resolution or \
            max_resolution is not None and resolution > max_resolution:
        kept = False
        lo = "" if min_resolution is None else f"{min_resolution:g}"
        hi = "" if max_resolution is None else f"{max_resolution:g}"
        notes.append(f"rejected: resolution {resolution:g} Å outside [{lo}, {hi}] Å")
    write_map(out_path, own_units)
    return Curated(label, split, bool(kept), round(float(cc["cc"]), 4),
                   round(float(cc["cam"]), 4), round(float(cc_minmax), 4), int(cc["contour_points"]),
                   float(resolution),
                   str(Path(model_path)), str(out_path), str(Path(map_path)),
                   "x".join(f"{e:.0f}" for e in target.extent), outside, note="; ".join(notes))


def read_pairs(csv_path: Path) -> list[dict]:
    """Rows of a pairs CSV (columns map, model, resolution; optional label, split). Relative paths
    are taken from the CSV's folder. A blank split lets curation choose the set."""
    if not csv_path.is_file():
        raise EmganError("pairs CSV not found", str(csv_path))
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise EmganError("no rows", str(csv_path))
    missing = {"map", "model", "resolution"} - set(rows[0])
    if missing:
        raise EmganError(f"missing column(s) {', '.join(sorted(missing))} (need map, model, resolution)",
                         str(csv_path))
    base = csv_path.parent
    out, seen = [], set()
    for n, row in enumerate(rows, start=2):
        where = f"{csv_path}:{n}"
        try:
            res = float(row["resolution"])
        except (TypeError, ValueError):
            raise EmganError(f"resolution '{row['resolution']}' is not a number", where) from None
        if math.isnan(res) or not (0 < res < 100):
            raise EmganError(f"resolution {res} Å is not plausible", where)
        paths = {k: (base / row[k]) if not Path(row[k]).is_absolute() else Path(row[k]) for k in ("map", "model")}
        for k, p in paths.items():
            if not p.exists():
                raise EmganError(f"{k} file not found: {row[k]}", where)
        split = (row.get("split") or "").strip()
        if split and split not in SPLITS:
            raise EmganError(f"split '{split}' is not one of {', '.join(SPLITS)} (or blank)", where)
        label = (row.get("label") or "").strip() or paths["map"].stem
        if label in seen:
            raise EmganError(f"label '{label}' used twice (labels name the target maps)", where)
        seen.add(label)
        out.append({"map": paths["map"], "model": paths["model"], "resolution": res, "label": label,
                    "split": split})
    return out


def curate(csv_path: str | Path, out_dir: str | Path, *, identity_threshold: float = 30.0,
           split_fractions: dict[str, float] | None = None, **options) -> list[Curated]:
    """Curate every pair of a CSV into ``out_dir``; writes ``out_dir/curated.csv`` (the manifest).

    ``identity_threshold`` (percent): chains at or above it put two pairs in one cluster;
    ``split_fractions``: shares of the kept pairs for train/val/test when a cluster has no split
    given (default 0.8/0.1/0.1). ``options`` go to :func:`curate_pair`.
    """
    csv_path, out_dir = Path(csv_path), Path(out_dir)
    pairs = read_pairs(csv_path)
    sequences = []
    for p in pairs:
        seqs = chain_sequences(p["model"])
        if not seqs:
            raise EmganError("no protein or nucleic-acid chain of 5 residues or more: cannot check "
                             "sequence identity", str(p["model"]))
        sequences.append(seqs)
    links = pair_identities(sequences)
    clusters = identity_clusters(sequences, identity_threshold, links)
    labels = [p["label"] for p in pairs]
    pinned = [p["split"] or None for p in pairs]
    assign_splits(clusters, pinned, None, split_fractions, labels, links)  # conflicting pins fail here, early
    if out_dir.is_dir():  # nothing of an earlier curation is replaced without --overwrite
        for name in ["curated.csv"] + [f"{p['label']}.mrc" for p in pairs]:
            check_output(out_dir / name, inputs=[csv_path] + [p[k] for p in pairs for k in ("map", "model")])
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in progress(pairs, "curating pairs", unit="pair"):
        try:
            rows.append(curate_pair(p["map"], p["model"], out_dir / f"{p['label']}.mrc",
                                    resolution=p["resolution"], label=p["label"], split=p["split"], **options))
        except EmganError as err:
            if err.where is None:
                raise EmganError(err.message, f"{p['label']} ({p['map'].name}, {p['model'].name})") from None
            raise
    splits = assign_splits(clusters, pinned, [1.0 if r.kept else 0.0 for r in rows], split_fractions, labels,
                           links)
    for k, r in enumerate(rows):
        r.split, r.cluster = splits[k], clusters[k]
        r.chains = " ".join(f"{c}:{len(s)}" for c, s in sequences[k].items())
        others = [links[(min(k, j), max(k, j))] for j in range(len(rows)) if j != k and splits[j] != splits[k]]
        if others:
            best = max(others, key=lambda link: link.identity)
            j = best.j if best.i == k else best.i
            r.nearest_other_split = f"{labels[j]} ({splits[j]}) {best.identity:.1f} %"
    with atomic_output(out_dir / "curated.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        w.writeheader()
        for r in rows:  # targets relative to the manifest: it moves with its maps
            w.writerow({**asdict(r), "target": os.path.relpath(r.target, out_dir)})
    return rows


#: what curation writes, in its manifest and maps; a new value makes cached curations stale
CURATION_FORMAT = "emgan-struc2mapgan-curated/1"


def is_pairs_table(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a pairs CSV to curate (columns map, model, resolution), not a manifest
    curation wrote (which has a ``target`` column)."""
    try:
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    columns = {c.strip() for c in header}
    return {"map", "model", "resolution"} <= columns and "target" not in columns


def curated_manifest(csv_path: str | os.PathLike, folder: str | os.PathLike | None = None) -> Path:
    """The manifest (``curated.csv``) of a pairs CSV curated with :func:`curate`'s defaults, curated
    on first use into the emgan cache (``$EMGAN_CACHE/data/struc2mapgan-curated/``, or ``folder``)
    and found there afterwards: the entry is keyed by the CSV and every map and model it names
    (paths and bytes), the curation settings and this plugin's version, so that any change curates
    again."""
    import inspect

    from emgan_core.api import build_cached

    from . import __version__

    csv_path = Path(csv_path).resolve()
    pairs = read_pairs(csv_path)
    defaults = {k: p.default for k, p in inspect.signature(curate_pair).parameters.items()
                if p.default is not inspect.Parameter.empty}
    settings = {"format": CURATION_FORMAT, "plugin": __version__, "curate_pair": defaults,
                "identity_threshold": inspect.signature(curate).parameters["identity_threshold"].default}

    def build(tmp: Path) -> None:
        rows = curate(csv_path, tmp)
        kept = sum(r.kept for r in rows)
        print(f"emgan: {kept} of {len(rows)} pairs of {csv_path.name} kept ("
              + ", ".join(f"{r.label}: {r.split if r.kept else 'rejected'}" for r in rows) + ")",
              file=sys.stderr, flush=True)
        if not kept:
            raise EmganError(f"no pair passed the correlation threshold {defaults['threshold']}", str(csv_path))

    entry = build_cached("struc2mapgan-curated", settings, build,
                         files=[csv_path] + [p[k] for p in pairs for k in ("map", "model")],
                         name=csv_path.stem, folder=folder, what=f"curated pairs of {csv_path.name}")
    return entry / "curated.csv"
