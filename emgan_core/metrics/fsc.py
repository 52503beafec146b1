"""Fourier shell correlation between two maps."""

from __future__ import annotations

from ..interfaces import MetricResult
from ._common import pair, resolution_at, shell_correlation, spacing


def fsc(output, reference, thresholds: list[float] = (0.5, 0.143)) -> MetricResult:
    """FSC curve (x: spatial frequency in 1/Å) and the resolution in Å at each threshold.

    Values are named ``resolution_<threshold>_A``; spacing comes from the Volume (1 Å if arrays).
    """
    a, b = pair(output, reference)
    freqs, curve = shell_correlation(a, b, spacing(output, reference, a.ndim))
    values = {f"resolution_{t:g}_A": resolution_at(freqs, curve, t) for t in thresholds}
    return MetricResult(values, {"fsc": {"x": freqs.tolist(), "y": curve.tolist()}})
