"""Pearson correlation coefficient over all voxels or pixels."""

from __future__ import annotations

from ..interfaces import MetricResult
from ._common import correlate, pair


def pearson(output, reference) -> MetricResult:
    """Pearson's r of the flattened inputs."""
    a, b = pair(output, reference)
    return MetricResult({"pearson": correlate(a, b, about_mean=True)})
