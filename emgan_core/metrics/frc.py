"""Fourier ring correlation between two images or stacks of images."""

from __future__ import annotations

import numpy as np

from ..interfaces import MetricResult
from ._common import pair, resolution_at, shell_correlation, spacing


def frc(output, reference, thresholds: list[float] = (0.5, 0.143)) -> MetricResult:
    """FRC curve (x: spatial frequency in 1/Å) and the resolution in Å at each threshold.

    (y, x) images or (n, y, x) stacks; for stacks the curve is the mean of the per-image curves.
    """
    a, b = pair(output, reference)
    if a.ndim == 2:
        a, b = a[None], b[None]
    step = spacing(output, reference, 2)
    curves = [shell_correlation(x, y, step) for x, y in zip(a, b)]
    freqs = curves[0][0]
    curve = np.mean([c for _, c in curves], axis=0)
    values = {f"resolution_{t:g}_A": resolution_at(freqs, curve, t) for t in thresholds}
    return MetricResult(values, {"frc": {"x": freqs.tolist(), "y": curve.tolist()}})
