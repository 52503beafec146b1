"""SuperEM's metrics, one function each: per-cube correlation with the reference (Figure 2a) and the
model-based resolution.

``cube_correlation`` (SuperEM's Figure 2a: CC of LR/HR against SR/HR cubes). The paper cuts the experimental (LR), enhanced (SR) and simulated (HR) maps, all on 1 Å voxels and
scaled to [0, 1], into 25³ cubes at a stride of 4 Å, keeps the cubes where neither the LR nor the HR
cube is all zero, and scores each cube with Chimera's ``measure correlation`` ("We then calculated
cross-correlation between LR/HR cubes and SR/HR cubes using the Chimera's "measure correlation"
tool"). That command samples the first map at the grid points of the second map (``inMap``) that lie
above the second map's contour, and reports the correlation about zero (its headline value) and about
the mean. The paper does not say which map was ``inMap`` nor at which level; the authors' pipeline
writes every cube as its own file, so here the HR cube is ``inMap`` at the level ChimeraX gives a
newly opened map (the value enclosing 1 % of the cube's 15,625 grid points,
:func:`emgan_core.metrics.chimerax_correlation.chimerax_contour_level`), and the default score is
the correlation about zero. Both maps share one grid, so sampling needs no interpolation.

``method``:

* ``about-zero`` (default, Chimera's "correlation"): <u, v> / (|u| |v|) over those points;
* ``about-mean`` (Chimera's "correlation about mean"): the same after subtracting each mean;
* ``pearson``: Pearson CC over every voxel of the cube (not the paper's; kept for comparison).

A cube whose scored values have no norm (e.g. an enhanced cube that is zero at every point) scores 0.

``model_resolution`` (Å): the resolution of the model's Gaussian map that best correlates
with the map, in the spirit of phenix.mtriage's d_model.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.optimize import minimize_scalar

from emgan_core.api import (
    Atoms,
    GaussianSimulator,
    MetricResult,
    Volume,
    chimerax_contour_level,
    correlate,
    grid_starts,
    pair,
)

from .paper import PAPER_CUBE, PAPER_STRIDE
from .prepare import pad_for_cubes

METHODS = ("about-zero", "about-mean", "pearson")


def valid_cube_starts(inputs: list[np.ndarray], cube: int = PAPER_CUBE, stride: int = PAPER_STRIDE) -> np.ndarray:
    """(N, 3) starts (z, y, x) of the paper's valid cubes: none of ``inputs`` (arrays on one grid,
    zero-padded at the far end as :func:`emgan_core.inferers.grid_starts` says) is all zero there."""
    starts = grid_starts(inputs[0].shape, cube, stride).numpy()
    padded = [pad_for_cubes(np.asarray(a), cube, stride) != 0 for a in inputs]
    keep = np.ones(len(starts), bool)
    for occ in padded:  # occupied-voxel count per cube from a summed-area table
        t = np.pad(occ.astype(np.int32).cumsum(0).cumsum(1).cumsum(2), ((1, 0), (1, 0), (1, 0)))
        lo, hi = starts, starts + cube
        n = np.zeros(len(starts), np.int64)
        for corner in range(8):
            idx = [hi[:, a] if corner >> a & 1 else lo[:, a] for a in range(3)]
            n += (-1) ** (3 - bin(corner).count("1")) * t[idx[0], idx[1], idx[2]]
        keep &= n > 0
    return starts[keep].reshape(-1, 3)


def cube_scores(maps: list[np.ndarray], reference: np.ndarray, starts: np.ndarray, cube: int = PAPER_CUBE,
                stride: int = PAPER_STRIDE, enclosed_fraction: float = 0.01) -> dict[str, np.ndarray]:
    """Scores of each map in ``maps`` against ``reference`` for the cubes at ``starts``:
    ``{method: (len(maps), N) array}`` for every method of this module."""
    ref = pad_for_cubes(np.asarray(reference, np.float64), cube, stride)
    arrays = [pad_for_cubes(np.asarray(m, np.float64), cube, stride) for m in maps]
    out = {m: np.zeros((len(maps), len(starts))) for m in METHODS}
    for i, (z, y, x) in enumerate(np.asarray(starts)):
        r = ref[z:z + cube, y:y + cube, x:x + cube].ravel()
        points = r >= chimerax_contour_level(r, enclosed_fraction)
        u = r[points]
        for k, a in enumerate(arrays):
            c = a[z:z + cube, y:y + cube, x:x + cube].ravel()
            v = c[points]
            out["about-zero"][k, i] = correlate(u, v, about_mean=False)
            out["about-mean"][k, i] = correlate(u, v, about_mean=True)
            out["pearson"][k, i] = correlate(r, c, about_mean=True)
    return out


def cube_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson CC of each cube of (B, ...) batches ``a`` and ``b`` over all its voxels (0 where
    either is constant): the ``pearson`` method on cubes already cut (the trainer's validation)."""
    return np.array([correlate(x.astype(np.float64), y.astype(np.float64), about_mean=True) for x, y in zip(a, b)])


def cube_correlations(output, reference, cube: int = PAPER_CUBE, stride: int = PAPER_STRIDE,
                      method: str = "about-zero") -> np.ndarray:
    """Per-cube score (``method``) of ``output`` against ``reference`` over the cubes where neither
    map is all zero. Arrays (z, y, x) on one grid (1 Å voxels in the paper)."""
    if method not in METHODS:
        raise ValueError(f"unknown cube correlation '{method}' ({', '.join(METHODS)})")
    a, b = pair(output, reference)
    starts = valid_cube_starts([a, b], cube, stride)
    return cube_scores([a], b, starts, cube, stride)[method][0]


def cube_correlation(output, reference, cube: int = PAPER_CUBE, stride: int = PAPER_STRIDE,
                     method: str = "about-zero") -> MetricResult:
    """Mean and median per-cube score over the cubes where neither map is all zero."""
    cc = cube_correlations(output, reference, cube, stride, method)
    return MetricResult({"cube_cc_mean": float(cc.mean()) if len(cc) else float("nan"),
                         "cube_cc_median": float(np.median(cc)) if len(cc) else float("nan"),
                         "cubes": float(len(cc))})


def cube_improvement(before, after, reference, cube: int = PAPER_CUBE, stride: int = PAPER_STRIDE,
                     method: str = "about-zero") -> dict[str, float]:
    """The paper's Figure 2a summary over its valid cubes (neither ``before`` nor ``reference`` all
    zero): number of cubes, fraction whose score rises from ``before`` to ``after``, mean score of
    each; for ``method`` and, under ``by_method``, for every method."""
    b, r = pair(before, reference)
    a, _ = pair(after, reference)
    starts = valid_cube_starts([b, r], cube, stride)
    scores = cube_scores([b, a], r, starts, cube, stride)
    by = {}
    for m, s in scores.items():
        if not len(starts):
            by[m] = {"cc_before": float("nan"), "cc_after": float("nan"), "improved_fraction": float("nan")}
            continue
        by[m] = {"cc_before": float(s[0].mean()), "cc_after": float(s[1].mean()),
                 "improved_fraction": float((s[1] > s[0]).mean())}
    return {"cubes": float(len(starts)), "method": method, **by[method], "by_method": by}


def model_resolution(volume: Volume, atoms: Atoms, lowest: float = 1.0, highest: float = 12.0,
                     convention: str = "molmap", mask_level: float = 0.02) -> dict[str, float]:
    """``d_model`` (Å) and the correlation reached, by a 1D search over the model map's resolution.

    The correlation (about the mean) is taken inside a fixed mask: where the model map at 4 Å
    exceeds ``mask_level`` of its maximum, so every trial resolution is scored on the same voxels.
    A coarse scan in 0.5 Å steps brackets the optimum; Brent's method refines it to 0.01 Å.
    """
    data = np.asarray(volume.data, np.float64)

    def model_map(d: float) -> np.ndarray:
        sim = GaussianSimulator(resolution=d, voxel_size=float(volume.voxel_size[0]), convention=convention)
        return np.asarray(sim.simulate(atoms, grid=volume).data, np.float64)

    ref = model_map(4.0)
    mask = ref > mask_level * ref.max()

    def score(d: float) -> float:
        return correlate(model_map(d)[mask], data[mask], about_mean=True)

    grid = np.arange(lowest, highest + 1e-9, 0.5)
    scores = [score(d) for d in grid]
    k = int(np.argmax(scores))
    lo, hi = grid[max(0, k - 1)], grid[min(len(grid) - 1, k + 1)]
    best = minimize_scalar(lambda d: -score(d), bounds=(lo, hi), method="bounded", options={"xatol": 0.01})
    d = float(best.x) if -best.fun >= scores[k] else float(grid[k])
    return {"d_model_A": d, "correlation": float(max(-best.fun, scores[k]))}


def cube_improvement_scores(output, reference, before: str, cube: int = PAPER_CUBE, stride: int = PAPER_STRIDE) -> MetricResult:
    """The Figure-2a summary of an enhanced map (``output``) against the model map (``reference``),
    from the input map at ``before`` (a file on the same grid; in a benchmark ``${input}``): the
    number of valid ``cubes`` and, per score (``about-zero``, the paper's; ``about-mean``;
    ``pearson``), ``METHOD/cc_before``, ``METHOD/cc_after`` and ``METHOD/improved_fraction``."""
    scores = cube_improvement(_read_map(before, _stamp(before)), output, reference, cube, stride)
    values = {"cubes": scores["cubes"]}
    for method, s in scores["by_method"].items():
        values.update({f"{method}/{k}": v for k, v in s.items()})
    return MetricResult(values)


def model_resolution_score(output, reference, model: str) -> MetricResult:
    """``d_model_A`` of ``output`` with the atomic ``model`` (a file; in a benchmark ``${model}``) and
    the correlation reached (:func:`model_resolution`)."""
    return MetricResult(model_resolution(output, _read_structure(model, _stamp(model))))


def _stamp(path: str) -> int:
    import os

    return os.stat(path).st_mtime_ns


@lru_cache(maxsize=4)
def _read_map(path: str, stamp: int) -> Volume:
    """A map read once while unchanged (``stamp``: its mtime): a benchmark scores every method
    against the same input."""
    from emgan_core.api import read_map

    return read_map(path)


@lru_cache(maxsize=4)
def _read_structure(path: str, stamp: int) -> Atoms:
    from emgan_core.api import read_structure

    return read_structure(path)
