"""Correlation about the mean over the whole box (or the voxels where the output exceeds a level), on one grid."""

from __future__ import annotations

from ..interfaces import MetricResult
from ._common import above_threshold, correlate, pair


def box_correlation_about_mean(output, reference, above: float | None = None) -> MetricResult:
    """<u − ū, v − v̄> / (|u − ū| |v − v̄|) over every voxel of a shared grid (then it equals Pearson's
    r), or over those where ``output`` exceeds ``above``; the means are taken over the voxels used."""
    a, b = above_threshold(*pair(output, reference), above)
    return MetricResult({"box_cam": correlate(a, b, about_mean=True)})
