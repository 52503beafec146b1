"""ChimeraX ``measure correlation``: a map sampled inside another map's contour, about zero and about the mean."""

from __future__ import annotations

import numpy as np

from ..errors import EmganError
from ..interfaces import MetricResult
from ..volume import Volume


def chimerax_contour_level(volume: Volume, enclosed_fraction: float = 0.01) -> float:
    """The isosurface level ChimeraX gives a newly opened map: the level that encloses 1 % of the grid
    points (ChimeraX documentation of ``volume``: "The initial contour level of an isosurface is set to
    enclose 1% of grid points"; maps fetched from EMDB use the depositor's level instead).

    Computed exactly as the value at rank ``1 − enclosed_fraction`` of all grid values; ChimeraX reads
    the same rank from a 10,000-bin histogram of [min, max], so its level may differ from this one by
    up to (max − min) / 10,000.
    """
    if not 0 < enclosed_fraction < 1:
        raise EmganError(f"enclosed_fraction must lie in (0, 1), got {enclosed_fraction}", "chimerax-correlation")
    values = np.asarray(volume.data if isinstance(volume, Volume) else volume, dtype=np.float64).ravel()
    return float(np.quantile(values, 1.0 - enclosed_fraction))


def _as_volume(value, role: str) -> Volume:
    if isinstance(value, Volume):
        return value
    data = np.asarray(value)
    if data.ndim != 3:
        raise EmganError(f"the {role} must be a 3D map (z, y, x), got shape {data.shape}", "chimerax-correlation")
    return Volume(data)


def sample_at_points(volume: Volume, points_xyz: np.ndarray) -> np.ndarray:
    """Trilinear values of ``volume`` at world points ``points_xyz`` (n, 3) in Å (x, y, z order); points
    outside the grid's box (beyond its first or last voxel centre) get 0, as ChimeraX interpolation does."""
    ijk = (np.asarray(points_xyz, dtype=np.float64) - volume.origin) / volume.voxel_size  # (n, 3) x, y, z
    shape_xyz = np.array(volume.shape[::-1])
    inside = np.all((ijk >= -1e-6) & (ijk <= shape_xyz - 1 + 1e-6), axis=1)
    ijk = np.clip(ijk[inside], 0, shape_xyz - 1)
    i0 = np.minimum(np.floor(ijk).astype(np.int64), np.maximum(shape_xyz - 2, 0))
    t = ijk - i0
    i1 = np.minimum(i0 + 1, shape_xyz - 1)
    data = volume.data
    out = np.zeros(len(points_xyz), dtype=np.float64)
    acc = np.zeros(len(ijk), dtype=np.float64)
    for dx in (0, 1):
        wx = t[:, 0] if dx else 1.0 - t[:, 0]
        x = i1[:, 0] if dx else i0[:, 0]
        for dy in (0, 1):
            wy = t[:, 1] if dy else 1.0 - t[:, 1]
            y = i1[:, 1] if dy else i0[:, 1]
            for dz in (0, 1):
                wz = t[:, 2] if dz else 1.0 - t[:, 2]
                z = i1[:, 2] if dz else i0[:, 2]
                acc += wx * wy * wz * data[z, y, x]
    out[inside] = acc
    return out


def chimerax_correlation(output, reference, level: float | None = None,
                         enclosed_fraction: float = 0.01) -> MetricResult:
    """ChimeraX ``measure correlation <reference> inMap <output>`` (struc2mapGAN's CC and CAM).

    The grid points of ``output`` whose value is ≥ ``level`` (default: :func:`chimerax_contour_level`
    of ``output``, the level ChimeraX gives a newly opened map, enclosing ``enclosed_fraction`` of its
    grid points) are placed in world coordinates (Å, origin and voxel size of each map) and ``reference``
    is sampled there by trilinear interpolation (points outside its box count as 0). With u the
    ``output`` values and v the sampled ``reference`` values at those points:

    * ``cc``  — correlation about zero, <u, v> / (|u| |v|);
    * ``cam`` — correlation about the mean, <u − ū, v − v̄> / (|u − ū| |v − v̄|);
    * ``contour_points`` — how many grid points were used; ``contour_level`` — the level.

    Raw values are used: no normalisation (a map shifted by a constant changes ``cc``, as in ChimeraX).
    For struc2mapGAN the experimental map is ``reference`` and the generated or simulated map ``output``.
    """
    out = _as_volume(output, "output")
    ref = _as_volume(reference, "reference")
    if level is None:
        level = chimerax_contour_level(out, enclosed_fraction)
    mask = out.data >= level
    n = int(mask.sum())
    if n == 0:
        return MetricResult({"cc": 0.0, "cam": 0.0, "contour_points": 0, "contour_level": float(level)})
    u = out.data[mask].astype(np.float64)
    if ref.same_grid(out, atol=1e-6):
        v = ref.data[mask].astype(np.float64)
    else:
        zyx = np.nonzero(mask)
        xyz = np.stack(zyx[::-1], axis=1) * out.voxel_size + out.origin
        v = sample_at_points(ref, xyz)
    return MetricResult({"cc": _cosine(u, v), "cam": _cosine(u - u.mean(), v - v.mean()),
                         "contour_points": n, "contour_level": float(level)})


chimerax_correlation.shared_grid = False  # samples the reference in world coordinates itself


def _cosine(u: np.ndarray, v: np.ndarray) -> float:
    d = float(np.sqrt(np.dot(u, u) * np.dot(v, v)))
    return float(np.dot(u, v) / d) if d > 0 else 0.0
