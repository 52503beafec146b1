"""The struc2mapGAN paper's thresholded Pearson correlation."""

from __future__ import annotations

import numpy as np

from ..interfaces import MetricResult
from ._common import correlate, pair


def _threshold_minmax(x: np.ndarray, percentile: float) -> np.ndarray:
    nonzero = x[x != 0]
    level = np.percentile(nonzero, percentile) if nonzero.size else 0.0
    x = np.where(x < level, 0.0, x)
    span = x.max() - x.min()
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def thresholded_pcc(output, reference, percentile: float = 90.0) -> MetricResult:
    """Pearson's r after zeroing each map below the ``percentile``-th percentile of its non-zero
    voxels and min–max normalising it (struc2mapGAN's PCC)."""
    a, b = pair(output, reference)
    return MetricResult({"pcc": correlate(_threshold_minmax(a, percentile),
                                          _threshold_minmax(b, percentile), about_mean=True)})
