"""ChimeraX ``measure correlation``: correlation about the mean."""

from __future__ import annotations

from ..interfaces import MetricResult
from ._common import above_threshold, correlate, pair


def correlation_about_mean(output, reference, above: float | None = None) -> MetricResult:
    """<u − ū, v − v̄> / (|u − ū| |v − v̄|) over the voxels where ``output`` exceeds ``above``
    (all voxels if None); the means are taken over those voxels."""
    a, b = above_threshold(*pair(output, reference), above)
    return MetricResult({"correlation_about_mean": correlate(a, b, about_mean=True)})
