"""On-disk triplet datasets (one zarr store per structure) and their parallel, resumable builder.

A store ``DIR/<name>.zarr`` holds ``diffraction``, ``low``, ``high`` and the noise-free
``clean_low`` (n, s, s) float32 in the simulator's units, ``angles`` (n, 3) RELION degrees,
``dose`` (n,) e⁻/Å², ``computed`` (n,) flags (noise-free part stored) and ``done`` (n,) flags
(noisy image stored); its attributes hold the structure, the simulator settings, the orientation
plan, the geometry (``pixel_size`` Å, ``angular_sampling`` mrad) and the ``dose``.

A build runs in two passes. (1) The multislice work, split in chunks of ``chunk`` triplets each
stored as its own zarr chunk; a chunk's ``computed`` flags are written after its data, so a build
that is interrupted and run again recomputes only the chunks not flagged. (2) One dose for the
whole build (every triplet of every structure of the call): the one that gives the noise-free
low-res images the simulator's band SNR (``TripletSimulator.dose_from``), unless the simulator
fixes ``dose``; then Poisson noise per triplet, seeded by (seed, index), and the ``done`` flags.
Pass 2 is cheap; it is redone for any store whose stored dose differs.

Parallelism is Dask's, through the core's ``dask_client``: a local cluster of ``workers`` processes
(one thread each) by default, or the scheduler at ``scheduler`` (``tcp://host:8786``; its workers need
emgan-plugin-diffragan installed).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from emgan_core.api import EmganError, dask_client, grid_euler, random_euler

from .simulator import CHANNELS, TripletSimulator

FORMAT = "emgan-diffragan-triplets/2"


def plan_angles(count: int, mode: Literal["grid", "random"] = "grid", seed: int = 0) -> np.ndarray:
    """(count, 3) RELION angles: the near-uniform Z-Y-Z grid, or uniformly random ones (seeded)."""
    if count < 1:
        raise EmganError(f"need at least one orientation, got {count}", "orientations")
    if mode == "grid":
        return grid_euler(count)
    if mode == "random":
        return random_euler(count, np.random.default_rng([seed, 11]))
    raise EmganError(f"orientation mode must be 'grid' or 'random', got {mode!r}", "orientations")


def store_path(output: str | Path, structure: str | Path) -> Path:
    """``output/<structure file stem>.zarr``."""
    return Path(output) / f"{Path(structure).stem}.zarr"


class TripletStore:
    """Read access to one built store."""

    def __init__(self, path: str | Path):
        import zarr

        self.path = Path(path)
        if not self.path.is_dir():
            raise EmganError("no triplet dataset here (build one with `emgan diffragan build-dataset`)",
                             str(path))
        try:
            self.group = zarr.open_group(str(self.path), mode="r")
            attrs = dict(self.group.attrs)
        except Exception as exc:  # zarr raises several kinds for a broken store
            raise EmganError(f"not a readable zarr store ({exc})", str(path)) from None
        if attrs.get("format") != FORMAT:
            raise EmganError(f"not an emgan triplet dataset (format {attrs.get('format')!r})", str(path))
        self._check_arrays()
        self.attrs = attrs

    def _check_arrays(self) -> None:
        """Only numeric arrays are ever read: an array of Python objects (a pickle codec) could run
        code when decoded, and is refused before any data is read."""
        try:
            arrays = list(self.group.arrays())
        except Exception as exc:  # noqa: BLE001 - an unreadable array listing is a broken store
            raise EmganError(f"not a readable zarr store ({exc})", str(self.path)) from None
        for name, array in arrays:
            kind = getattr(getattr(array, "dtype", None), "kind", "O")
            if kind not in "biuf":
                raise EmganError(f"array '{name}' holds {array.dtype} values, not numbers: refused (decoding "
                                 "objects could run code)", str(self.path))

    def __len__(self) -> int:
        return int(self.attrs["count"])

    @property
    def pixel_size(self) -> float:
        return float(self.attrs["pixel_size"])

    @property
    def angular_sampling(self) -> float:
        return float(self.attrs["angular_sampling"])

    @property
    def settings(self) -> dict:
        return dict(self.attrs["settings"])

    def done(self) -> np.ndarray:
        return np.asarray(self.group["done"][:], bool)

    def angles(self) -> np.ndarray:
        return np.asarray(self.group["angles"][:], np.float64)

    @property
    def dose(self) -> float | None:
        """The low-res dose of the whole store, e⁻/Å² (None before the noise pass)."""
        dose = self.attrs.get("dose")
        return None if dose is None else float(dose)

    def load(self, indices=None, clean: bool = False) -> dict[str, np.ndarray]:
        """Arrays of the finished triplets among ``indices`` (default all): the three channels
        (k, s, s), ``angles`` (k, 3) and ``index`` (k,); with ``clean`` also ``clean_low``."""
        done = self.done()
        index = np.arange(len(self)) if indices is None else np.asarray(indices, int)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise EmganError(f"indices outside 0..{len(self) - 1}", str(self.path))
        index = index[done[index]]
        if index.size == 0:
            raise EmganError("no finished triplets selected (is the build complete?)", str(self.path))
        names = CHANNELS + (("clean_low",) if clean else ())
        out = {k: np.asarray(self.group[k].get_orthogonal_selection((index,)), np.float32) for k in names}
        out["angles"] = self.angles()[index]
        out["index"] = index
        return out


def simulate_chunk(structure: str, settings: dict, angles: np.ndarray, start: int, seed: int = 0) -> dict:
    """Triplets ``start…start+len(angles)`` of one structure but the low-res noise (runs on a Dask
    worker): ``diffraction`` (as recorded: with counting noise if the settings ask), ``high``,
    ``clean_low`` (k, s, s)."""
    sim = TripletSimulator(**settings)
    atoms = sim.prepare(sim.read_input(structure))
    parts = [sim.simulate_clean(atoms, a) for a in angles]
    for i, p in enumerate(parts):
        p["diffraction"] = sim.recorded_pattern(p["diffraction"], seed, start + i)
    out = {k: np.stack([p[k] for p in parts]).astype(np.float32) for k in ("diffraction", "high", "clean_low")}
    out["angular_sampling"] = parts[0]["angular_sampling"]
    out["start"] = start
    return out


def _open_store(path: Path, structure: Path, sim: TripletSimulator, angles: np.ndarray, mode: str, seed: int,
                chunk: int, overwrite: bool):
    import zarr

    plan = {"format": FORMAT, "structure": str(structure.resolve()), "settings": sim.settings(),
            "orientations": mode, "count": int(len(angles)), "seed": int(seed), "chunk": int(chunk),
            "pixel_size": sim.pixel_size}
    if path.exists() and overwrite:
        shutil.rmtree(path)
    if path.exists():
        try:
            group = zarr.open_group(str(path), mode="r+")
            old = {k: group.attrs.get(k) for k in plan}
        except Exception as exc:
            raise EmganError(f"cannot resume: not a readable zarr store ({exc}); use --overwrite",
                             str(path)) from None
        diff = sorted(k for k in plan if old.get(k) != plan[k])
        if not diff and not np.allclose(np.asarray(group["angles"][:]), angles):
            diff = ["orientations (angles)"]
        if diff:
            raise EmganError(f"cannot resume: this store was built with other {', '.join(diff)}; use "
                             "--overwrite or another output folder", str(path))
        return group
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    group = zarr.open_group(str(partial), mode="w")
    s, n = sim.image_size, len(angles)
    for name in CHANNELS + ("clean_low",):
        group.create_array(name, shape=(n, s, s), chunks=(chunk, s, s), dtype="float32", fill_value=0.0)
    group.create_array("angles", shape=(n, 3), chunks=(n, 3), dtype="float64")[:] = angles
    group.create_array("dose", shape=(n,), chunks=(chunk,), dtype="float64", fill_value=0.0)
    group.create_array("computed", shape=(n,), chunks=(chunk,), dtype="bool", fill_value=False)
    group.create_array("done", shape=(n,), chunks=(chunk,), dtype="bool", fill_value=False)
    group.attrs.update({**plan, "angular_sampling": None, "dose": None})
    partial.rename(path)  # the empty store appears whole or not at all
    return zarr.open_group(str(path), mode="r+")


@dataclass
class BuildReport:
    """Per store: triplets computed now and already present, and the build's dose (e⁻/Å²)."""

    path: Path
    computed: int
    skipped: int
    dose: float | None = None


def _add_noise(stores: dict, simulator: TripletSimulator, seed: int, chunk: int) -> float:
    """Pass 2: one dose from every noise-free low-res image of ``stores``, then the noisy images
    of every store whose dose differs or is unfinished. Returns the dose."""
    sums = np.zeros(3)
    for group in stores.values():
        n = group["computed"].shape[0]
        for s in range(0, n, chunk):
            sums += simulator.band_sums(np.asarray(group["clean_low"][s:s + chunk]))
    dose = simulator.dose_from(sums)
    for group in stores.values():
        n = group["done"].shape[0]
        if group.attrs.get("dose") == dose and np.asarray(group["done"][:]).all():
            continue
        group["done"][:] = False
        group.attrs["dose"] = dose
        for s in range(0, n, chunk):
            clean = np.asarray(group["clean_low"][s:s + chunk], np.float64)
            group["low"][s:s + len(clean)] = np.stack(
                [simulator.add_noise(c, dose, np.random.default_rng([seed, s + i])) for i, c in enumerate(clean)]
            ).astype(np.float32)
            group["dose"][s:s + len(clean)] = dose
            group["done"][s:s + len(clean)] = True
    return dose


def build_dataset(structures: list[str | Path], output: str | Path, count: int, simulator: TripletSimulator,
                  mode: Literal["grid", "random"] = "grid", seed: int = 0, chunk: int = 8, workers: int = 2,
                  scheduler: str | None = None, overwrite: bool = False,
                  on_chunk: Callable[[Path, int, int], None] | None = None) -> list[BuildReport]:
    """Simulate ``count`` triplets per structure into ``output/<stem>.zarr``; resumes unfinished stores.
    All stores of the call share one low-res dose (see the module notes), reported in each report.

    ``on_chunk(path, computed, total)`` is called after each chunk's noise-free part is stored
    (progress; raising in it stops the build as an interruption would).
    """
    if chunk < 1:
        raise EmganError(f"chunk must be >= 1, got {chunk}", "chunk")
    paths = [Path(s) for s in structures]
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise EmganError("two structures share a file name; their stores would collide", "structures")
    angles = plan_angles(count, mode, seed)
    for p in paths:  # fail on a bad structure before starting any worker
        simulator.prepare(simulator.read_input(p))
    stores = {p: _open_store(store_path(output, p), p, simulator, angles, mode, seed, chunk, overwrite)
              for p in paths}
    todo, reports = [], {}
    for p, group in stores.items():
        done = np.asarray(group["computed"][:], bool)
        starts = range(0, count, chunk)
        todo += [(p, s) for s in starts if not done[s:s + chunk].all()]
        skipped = sum(min(chunk, count - s) for s in starts if done[s:s + chunk].all())
        reports[p] = BuildReport(store_path(output, p), 0, skipped)
    if todo:
        _compute(todo, stores, reports, simulator, angles, chunk, workers, scheduler, on_chunk, count, seed)
    dose = _add_noise(stores, simulator, seed, chunk)
    for r in reports.values():
        r.dose = dose
    return list(reports.values())


def _compute(todo, stores, reports, simulator, angles, chunk, workers, scheduler, on_chunk, count, seed) -> None:
    """Pass 1: the noise-free chunks ``todo`` [(structure, start)] on Dask workers, stored as they come."""
    from dask.distributed import as_completed

    with dask_client(workers, scheduler) as client:
        settings = simulator.settings()
        futures = {client.submit(simulate_chunk, str(p.resolve()), settings, angles[s:s + chunk], s, seed,
                                 pure=False): p for p, s in todo}
        for future in as_completed(futures):
            p = futures[future]
            result = future.result()
            group, s = stores[p], int(result["start"])
            k = len(result["high"])
            for name in ("diffraction", "high", "clean_low"):
                group[name][s:s + k] = result[name]
            if group.attrs.get("angular_sampling") is None:
                group.attrs["angular_sampling"] = float(result["angular_sampling"])
            group["computed"][s:s + k] = True
            reports[p].computed += k
            if on_chunk is not None:
                on_chunk(reports[p].path, int(np.asarray(group["computed"][:]).sum()), count)
