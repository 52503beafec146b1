"""Correlation about zero over the whole box (or the voxels where the output exceeds a level), on one grid."""

from __future__ import annotations

from ..interfaces import MetricResult
from ._common import above_threshold, correlate, pair


def box_correlation(output, reference, above: float | None = None) -> MetricResult:
    """<u, v> / (|u| |v|) over every voxel of a shared grid, or those where ``output`` exceeds ``above``.

    Not ChimeraX's ``measure correlation`` (that is ``chimerax-correlation``, inside the output's
    contour): over a whole box any map with a positive background scores high, noise included.
    """
    a, b = above_threshold(*pair(output, reference), above)
    return MetricResult({"box_cc": correlate(a, b, about_mean=False)})
