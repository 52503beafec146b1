"""Curation of training targets: experimental map + fitted model → boxed, 1 Å, [0, 1] map.

For each pair: cut a box around the model with a margin (like phenix.map_box), optionally apply a
soft mask around the atoms, resample to ``voxel_size`` Å on a grid whose origin lies on the
``voxel_size`` lattice, min–max normalise to [0, 1]; then simulate the model (Gaussian,
``sim_resolution`` Å, min–max normalised) on that grid and keep the pair only when the two correlate
at ``threshold`` or better (0.65 in the paper). The correlation is ChimeraX's ``measure correlation``
of the simulated map in the experimental one: about zero, over the voxels where the simulated map
exceeds ``sim_level`` — only where the model puts density, so neighbouring density that the model
does not explain (other chains in a cut-out) does not count against the pair.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from emgan_core.errors import EmganError
from emgan_core.io import read_map, read_structure, write_map
from emgan_core.io.atomic import atomic_output
from emgan_core.metrics import correlation_about_zero
from emgan_core.simulators import GaussianSimulator
from emgan_core.transforms import normalise, resample_to_grid
from emgan_core.volume import Volume

MANIFEST_COLUMNS = ["label", "split", "kept", "correlation", "resolution", "model", "target", "map",
                    "box_A", "atoms_outside_map", "note"]


@dataclass
class Curated:
    label: str
    split: str
    kept: bool
    correlation: float
    resolution: float
    model: str
    target: str
    map: str
    box_A: str
    atoms_outside_map: int
    note: str = ""


def box_around_atoms(volume: Volume, xyz: np.ndarray, margin: float) -> tuple[Volume, int, bool]:
    """The sub-volume covering the atoms ± ``margin`` Å, on the map's own lattice.

    Returns (box, atoms outside the map, whether the map edge clipped the box).
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


def soft_mask(grid: Volume, xyz: np.ndarray, radius: float, edge: float) -> np.ndarray:
    """1 within ``radius`` Å of an atom, a cosine fall-off to 0 over ``edge`` Å beyond (z, y, x)."""
    marks = np.ones(grid.shape, bool)
    idx = np.rint((xyz - grid.origin) / grid.voxel_size).astype(int)
    inside = np.all((idx >= 0) & (idx < np.array(grid.shape[::-1])), axis=1)
    marks[idx[inside, 2], idx[inside, 1], idx[inside, 0]] = False
    dist = ndimage.distance_transform_edt(marks, sampling=grid.voxel_size[::-1])
    ramp = np.clip((dist - radius) / max(edge, 1e-6), 0, 1)
    return (0.5 * (1 + np.cos(np.pi * ramp))).astype(np.float32)


def curate_pair(map_path, model_path, out_path, *, resolution: float, label: str, split: str = "train",
                margin: float = 5.0, voxel_size: float = 1.0, mask: bool = False, mask_radius: float = 3.0,
                mask_edge: float = 3.0, threshold: float = 0.65, sim_resolution: float = 2.0,
                sim_level: float = 0.05) -> Curated:
    """Curate one pair, write its target map, and return its manifest row."""
    exp = read_map(map_path)
    atoms = read_structure(model_path)
    box, outside, clipped = box_around_atoms(exp, atoms.xyz, margin)
    target = resample_to_grid(box, lattice_grid(box, voxel_size))
    data = normalise(target.data, "minmax")
    if mask:  # after normalising, so that the masked-out background is exactly 0
        data = normalise(data * soft_mask(target, atoms.xyz, mask_radius, mask_edge), "minmax")
    target = target.with_data(data)
    sim = GaussianSimulator(resolution=sim_resolution, normalise="minmax").simulate(atoms, grid=target)
    cc = correlation_about_zero(sim, target, above=sim_level).values["correlation"]
    kept = cc >= threshold
    notes = []
    if outside:
        notes.append(f"{outside} atoms outside the map")
    if clipped:
        notes.append("box clipped by the map edge")
    if not kept:
        notes.append(f"rejected: correlation {cc:.3f} < {threshold}")
    write_map(out_path, target)
    extent = target.extent
    return Curated(label, split, bool(kept), round(float(cc), 4), float(resolution), str(Path(model_path)),
                   str(out_path), str(Path(map_path)), "x".join(f"{e:.0f}" for e in extent), outside,
                   "; ".join(notes))


def read_pairs(csv_path: Path) -> list[dict]:
    """Rows of a pairs CSV (columns map, model, resolution; optional label, split). Relative paths
    are taken from the CSV's folder."""
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
    out = []
    for n, row in enumerate(rows, start=2):
        where = f"{csv_path}:{n}"
        try:
            res = float(row["resolution"])
        except ValueError:
            raise EmganError(f"resolution '{row['resolution']}' is not a number", where) from None
        if not (0 < res < 100) or math.isnan(res):
            raise EmganError(f"resolution {res} Å is not plausible", where)
        paths = {k: (base / row[k]) if not Path(row[k]).is_absolute() else Path(row[k]) for k in ("map", "model")}
        for k, p in paths.items():
            if not p.exists():
                raise EmganError(f"{k} file not found: {row[k]}", where)
        out.append({"map": paths["map"], "model": paths["model"], "resolution": res,
                    "label": row.get("label") or paths["map"].stem, "split": row.get("split") or "train"})
    return out


def curate(csv_path: str | Path, out_dir: str | Path, **options) -> list[Curated]:
    """Curate every pair of a CSV into ``out_dir``; writes ``out_dir/curated.csv`` (the manifest)."""
    csv_path, out_dir = Path(csv_path), Path(out_dir)
    pairs = read_pairs(csv_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [curate_pair(p["map"], p["model"], out_dir / f"{p['label']}.mrc", resolution=p["resolution"],
                        label=p["label"], split=p["split"], **options) for p in pairs]
    with atomic_output(out_dir / "curated.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow(asdict(r))
    return rows
