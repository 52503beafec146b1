"""ChimeraX ``measure correlation``: correlation about the mean."""

from __future__ import annotations

from ..interfaces import MetricResult
from ._common import correlate, pair


def correlation_about_mean(output, reference, above: float | None = None) -> MetricResult:
    """<u − ū, v − v̄> / (|u − ū| |v − v̄|) over the voxels where ``output`` exceeds ``above``
    (all voxels if None); the means are taken over those voxels."""
    a, b = pair(output, reference)
    if above is not None:
        mask = a > above
        a, b = a[mask], b[mask]
    return MetricResult({"correlation_about_mean": correlate(a, b, about_mean=True)})
