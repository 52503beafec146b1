"""Peak signal-to-noise ratio."""

from __future__ import annotations

import numpy as np

from ..interfaces import MetricResult
from ._common import pair


def psnr(output, reference, data_range: float | None = None) -> MetricResult:
    """10·log10(range² / MSE) in dB; ``data_range`` defaults to the reference's max − min."""
    a, b = pair(output, reference)
    data_range = float(b.max() - b.min()) if data_range is None else float(data_range)
    mse = float(np.mean((a - b) ** 2))
    value = float("inf") if mse == 0 else 10.0 * np.log10(data_range ** 2 / mse)
    return MetricResult({"psnr_dB": value})
