"""struc2mapGAN's PCC: Pearson's r of two maps each cut at a percentile of its non-zero voxels, then min–max scaled."""

from __future__ import annotations

import numpy as np

from ..interfaces import MetricResult
from ._common import correlate, pair


def threshold_minmax(x: np.ndarray, percentile: float) -> np.ndarray:
    """``x`` with every value below the ``percentile``-th percentile of its non-zero values set to 0,
    then min–max scaled to [0, 1] (all zeros when the result is constant). This is the preprocessing
    of both PCC and SSIM in the struc2mapGAN authors' evaluation (evaluation/eval_funcs.py)."""
    x = np.asarray(x, dtype=np.float64)
    nonzero = x[x != 0]
    level = np.percentile(nonzero, percentile) if nonzero.size else 0.0
    x = np.where(x < level, 0.0, x)
    span = x.max() - x.min()
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def thresholded_pcc(output, reference, percentile: float = 90.0) -> MetricResult:
    """Pearson's r over the whole box after :func:`threshold_minmax` of each map (struc2mapGAN Table 1
    PCC; the authors use ``percentile`` = 90). Value key ``pcc_p<percentile>``."""
    a, b = pair(output, reference)
    r = correlate(threshold_minmax(a, percentile), threshold_minmax(b, percentile), about_mean=True)
    return MetricResult({f"pcc_p{percentile:g}": r})
