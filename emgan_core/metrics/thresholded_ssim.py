"""struc2mapGAN's SSIM: structural similarity of two maps each cut at a percentile of its non-zero voxels, then min–max scaled."""

from __future__ import annotations

from skimage.metrics import structural_similarity

from ..interfaces import MetricResult
from ._common import pair
from .thresholded_pcc import threshold_minmax


def thresholded_ssim(output, reference, percentile: float = 90.0, win_size: int = 7) -> MetricResult:
    """SSIM (scikit-image, uniform ``win_size``³ window, data range 1) over the whole box after
    :func:`~emgan_core.metrics.thresholded_pcc.threshold_minmax` of each map, as in struc2mapGAN's
    Table 1 (the authors use ``percentile`` = 90). Value key ``ssim_p<percentile>``."""
    a, b = pair(output, reference)
    a, b = threshold_minmax(a, percentile), threshold_minmax(b, percentile)
    win = min(win_size, *[s if s % 2 else s - 1 for s in a.shape])
    value = structural_similarity(a, b, data_range=1.0, win_size=win)
    return MetricResult({f"ssim_p{percentile:g}": float(value)})
