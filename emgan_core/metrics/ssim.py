"""Structural similarity (scikit-image) of two maps or images."""

from __future__ import annotations

from skimage.metrics import structural_similarity

from ..interfaces import MetricResult
from ._common import pair


def ssim(output, reference, data_range: float | None = None, win_size: int = 7) -> MetricResult:
    """SSIM over the whole volume/image (stacks: mean over images).

    ``data_range`` defaults to the joint range (max − min over both inputs).
    """
    a, b = pair(output, reference)
    if data_range is None:
        data_range = float(max(a.max(), b.max()) - min(a.min(), b.min())) or 1.0
    win = min(win_size, *[s if s % 2 else s - 1 for s in a.shape[-2:]])
    if a.ndim == 3 and a.shape[0] < win:  # (n, y, x) stack of images
        values = [structural_similarity(x, y, data_range=data_range, win_size=win) for x, y in zip(a, b)]
        return MetricResult({"ssim": float(sum(values) / len(values))})
    return MetricResult({"ssim": float(structural_similarity(a, b, data_range=data_range, win_size=win))})
