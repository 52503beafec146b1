"""SuperEM data preparation: a map and the Gaussian map of its model on 1 Å voxels, in [0, 1].

Paper mode (Maddhuri Venkata Subramaniya et al.): the experimental map is resampled to 1 Å voxels,
densities below the contour (if given) and negative densities are set to 0, and the map is
min–max normalised to [0, 1]. The target is the model's Gaussian map on the same grid at 1.8 Å
for maps better than 3.5 Å and 3.0 Å otherwise, treated the same way. Cubes of 25 Å at a stride
of 4 Å are kept where neither cube is all zero. Unlike the published merge, the grid is padded so
that the last cube along each axis covers the map's far edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emgan_core.api import (
    Atoms,
    EmganError,
    GaussianSimulator,
    Volume,
    apply_zone,
    grid_starts,
    padded_extent,
    read_map,
    read_structure,
    resample_to_voxel_size,
)

from .paper import PAPER_CUBE, PAPER_STRIDE, PAPER_VOXEL


def target_resolution(map_resolution: float) -> float:
    """Resolution (Å) of the model map used as target: 1.8 Å below 3.5 Å, else 3.0 Å."""
    return 1.8 if map_resolution < 3.5 else 3.0


PROTEIN_DENSITY_A3_PER_DA = 1.21


def model_volume_contour(volume: Volume, atoms: Atoms, a3_per_da: float = PROTEIN_DENSITY_A3_PER_DA) -> float:
    """Contour level (map units) at which ``volume`` encloses the model's molecular volume.

    The molecular volume is the mass of the model's atoms as read (Da; hydrogens only where the
    file has them) times ``a3_per_da`` (1.21 Å³/Da, the usual protein value). The level is the
    value of the ``n``-th highest voxel, ``n`` = that volume / the voxel volume (Å³), so that about
    ``n`` voxels lie at or above it. A box with fewer positive voxels than that (a tight cut-out)
    gives its lowest positive value: nothing above zero is removed.
    """
    voxel = float(np.prod(volume.voxel_size))
    n = int(round(float(np.sum(atoms.mass)) * a3_per_da / voxel))
    values = np.asarray(volume.data, np.float64).ravel()
    positive = values[values > 0]
    if n < 1 or not len(positive):
        raise EmganError("cannot set a contour from the model: no model mass or no positive density",
                         "contour")
    if n >= len(positive):
        return float(positive.min())
    return float(np.partition(values, len(values) - n)[len(values) - n])


def clip_and_scale(data: np.ndarray, contour: float | None = None) -> np.ndarray:
    """Zero below ``contour`` (and below 0), then min–max to [0, 1]; float32 (z, y, x)."""
    data = np.asarray(data, dtype=np.float32).copy()
    data[data < max(0.0, contour if contour is not None else 0.0)] = 0.0
    top = float(data.max())
    if top <= 0:
        raise EmganError("no density left above the contour (and above 0)", "contour")
    return data / top


def prepare_input(volume: Volume, voxel_size: float = PAPER_VOXEL, contour: float | None = None,
                  zone: tuple[Atoms, float] | None = None) -> Volume:
    """The generator's input: resampled to ``voxel_size`` Å, clipped at the contour, in [0, 1].

    ``zone`` = (atoms, radius Å) first zeroes the voxels farther than ``radius`` from the model.
    """
    if np.allclose(volume.voxel_size, voxel_size):
        resampled = volume
    else:
        resampled = resample_to_voxel_size(volume, voxel_size)
    if zone is not None:
        resampled = apply_zone(resampled, *zone)
    return resampled.with_data(clip_and_scale(resampled.data, contour))


@dataclass
class PreparedPair:
    """Input and target on one 1 Å grid, both (z, y, x) in [0, 1]."""

    input: Volume
    target: Volume
    target_resolution: float
    contour: float | None = None


def prepare_pair(map_path, model_path, resolution: float, contour: float | str | None = None,
                 voxel_size: float = 1.0, convention: str = "eman2",
                 hr_resolution: float | None = None, zone: float | None = None) -> PreparedPair:
    """Read a map (resolution ``resolution`` Å) and its model, and prepare both as the paper does.

    ``contour``: a level in map units, ``"auto"`` for :func:`model_volume_contour` (the level
    enclosing the model's molecular volume), or None (only negative densities are zeroed).

    ``zone`` (Å, optional, not in the paper): keep only the map's density within that distance of
    the model, for boxes that hold unmodelled density (neighbouring chains, detergent, noise).
    """
    atoms = read_structure(model_path)
    source = read_map(map_path)
    if contour == "auto":
        contour = model_volume_contour(source, atoms)
    lr = prepare_input(source, voxel_size, contour, None if zone is None else (atoms, zone))
    d = hr_resolution or target_resolution(resolution)
    sim = GaussianSimulator(resolution=d, voxel_size=voxel_size, convention=convention)
    model_map = sim.simulate(atoms, grid=lr)
    try:
        hr = model_map.with_data(clip_and_scale(model_map.data))
    except EmganError:
        raise EmganError("the model does not overlap the map (no simulated density inside its box)",
                         str(model_path)) from None
    return PreparedPair(lr, hr, d, contour)


def pad_for_cubes(data: np.ndarray, cube: int = PAPER_CUBE, stride: int = PAPER_STRIDE) -> np.ndarray:
    """Zero-pad (z, y, x) at its far end so the cube grid of :func:`grid_starts` fits."""
    return np.pad(data, [(0, padded_extent(n, cube, stride) - n) for n in data.shape])


def nonempty_cubes(lr: np.ndarray, hr: np.ndarray, cube: int = PAPER_CUBE, stride: int = PAPER_STRIDE) -> np.ndarray:
    """(N, 3) starts (z, y, x) of the cubes where neither input nor target is all zero (paper mode)."""
    starts = grid_starts(lr.shape, cube, stride).numpy()
    lr, hr = pad_for_cubes(lr, cube, stride), pad_for_cubes(hr, cube, stride)
    keep = [bool(lr[z:z + cube, y:y + cube, x:x + cube].any() and hr[z:z + cube, y:y + cube, x:x + cube].any())
            for z, y, x in starts]
    return starts[np.asarray(keep, bool)].reshape(-1, 3)


def write_pair(map_path, model_path, resolution: float, contour: float | None, folder) -> PreparedPair:
    """:func:`prepare_pair` (``contour`` None: the model-volume level) written as ``input.mrc`` and
    ``target.mrc`` into ``folder`` (made if missing; existing files only with ``--overwrite``): a
    benchmark's input and reference."""
    from pathlib import Path

    from emgan_core.api import check_output, write_map

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("input.mrc", "target.mrc"):
        check_output(out / name)
    pair = prepare_pair(map_path, model_path, resolution, "auto" if contour is None else contour)
    write_map(out / "input.mrc", pair.input)
    write_map(out / "target.mrc", pair.target)
    return pair
