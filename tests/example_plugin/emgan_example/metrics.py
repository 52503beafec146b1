"""Mean absolute difference between an output and its reference."""

from __future__ import annotations

import numpy as np

from emgan_core.api import MetricResult, as_array


def mean_abs_diff(output, reference, scale: float = 1.0) -> MetricResult:
    """mean(|output − reference|) × scale."""
    a, b = as_array(output), as_array(reference)
    return MetricResult({"mean_abs_diff": float(np.mean(np.abs(a - b)) * scale)})
