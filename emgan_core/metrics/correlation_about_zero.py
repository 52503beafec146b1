"""ChimeraX ``measure correlation``: correlation about zero."""

from __future__ import annotations

from ..interfaces import MetricResult
from ._common import above_threshold, correlate, pair


def correlation_about_zero(output, reference, above: float | None = None) -> MetricResult:
    """<u, v> / (|u| |v|) over the voxels where ``output`` exceeds ``above`` (all voxels if None)."""
    a, b = above_threshold(*pair(output, reference), above)
    return MetricResult({"correlation": correlate(a, b, about_mean=False)})
