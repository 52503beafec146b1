"""Per-cube correlation with a reference map (SuperEM's Figure 2a: CC of LR/HR vs SR/HR cubes)."""

from __future__ import annotations

import numpy as np

from emgan_core.inferers import grid_starts
from emgan_core.interfaces import MetricResult
from emgan_core.metrics._common import pair

from ..prepare import pad_for_cubes


def cube_correlations(output, reference, cube: int = 25, stride: int = 12) -> np.ndarray:
    """Pearson CC per cube (``cube`` voxels, grid step ``stride``) where both cubes vary; NaN where
    either is constant (e.g. all zero). Arrays (z, y, x) on one grid."""
    a, b = pair(output, reference)
    starts = grid_starts(a.shape, cube, stride).numpy()
    a, b = pad_for_cubes(a, cube, stride), pad_for_cubes(b, cube, stride)
    out = np.full(len(starts), np.nan)
    for i, (z, y, x) in enumerate(starts):
        u = a[z:z + cube, y:y + cube, x:x + cube].ravel()
        v = b[z:z + cube, y:y + cube, x:x + cube].ravel()
        u, v = u - u.mean(), v - v.mean()
        den = np.sqrt((u * u).sum() * (v * v).sum())
        if den > 0:
            out[i] = float((u * v).sum() / den)
    return out


def cube_correlation(output, reference, cube: int = 25, stride: int = 12) -> MetricResult:
    """Mean and median per-cube Pearson CC over the cubes where both maps vary."""
    cc = cube_correlations(output, reference, cube, stride)
    cc = cc[np.isfinite(cc)]
    return MetricResult({"cube_cc_mean": float(cc.mean()) if len(cc) else float("nan"),
                         "cube_cc_median": float(np.median(cc)) if len(cc) else float("nan"),
                         "cubes": float(len(cc))})


def cube_improvement(before, after, reference, cube: int = 25, stride: int = 12) -> dict[str, float]:
    """Fraction of cubes whose CC with ``reference`` rises from ``before`` to ``after``, and the
    mean CC of each, over the cubes where all three vary."""
    cb = cube_correlations(before, reference, cube, stride)
    ca = cube_correlations(after, reference, cube, stride)
    ok = np.isfinite(cb) & np.isfinite(ca)
    if not ok.any():
        return {"cubes": 0.0, "improved_fraction": float("nan"), "cc_before": float("nan"),
                "cc_after": float("nan")}
    return {"cubes": float(ok.sum()), "improved_fraction": float((ca[ok] > cb[ok]).mean()),
            "cc_before": float(cb[ok].mean()), "cc_after": float(ca[ok].mean())}
