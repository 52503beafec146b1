"""Per-image scores of an image stack against its truth, blind to each image's scale and offset.

FRC (``frc``, mean curve over the images) ignores scale. PSNR and SSIM do not, and an input and its
truth are often in different units (noisy counts, network outputs in [-1, 1]), so each image is
first mapped onto its truth by the least-squares affine fit a·x + b: no image is penalised for its
scale, only for what no scaling can fix.
"""

from __future__ import annotations

import numpy as np

from ..interfaces import MetricResult, as_array
from ..volume import ImageStack
from .frc import frc
from .psnr import psnr
from .ssim import ssim


def fit_to(images: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per image (n, y, x), the least-squares a·image + b onto ``truth``."""
    x = images.reshape(len(images), -1).astype(np.float64)
    t = truth.reshape(len(truth), -1).astype(np.float64)
    xc, tc = x - x.mean(1, keepdims=True), t - t.mean(1, keepdims=True)
    a = (xc * tc).sum(1, keepdims=True) / np.maximum((xc * xc).sum(1, keepdims=True), 1e-30)
    return (a * xc + t.mean(1, keepdims=True)).reshape(images.shape)


def image_scores(output, reference, pixel_size: float | None = None) -> MetricResult:
    """FRC-0.5 and FRC-0.143 resolution (Å), PSNR (dB) and SSIM, means over (n, y, x) images.

    ``pixel_size`` (Å/pixel) defaults to the reference ImageStack's (1 for plain arrays).
    """
    if pixel_size is None:
        pixel_size = reference.pixel_size if isinstance(reference, ImageStack) else 1.0
    images, truth = as_array(output), as_array(reference)
    if images.ndim == 2:
        images, truth = images[None], truth[None]
    if images.shape != truth.shape:
        raise ValueError(f"image stacks differ in shape: {images.shape} vs {truth.shape}")
    fitted = fit_to(images, truth)
    curve = frc(ImageStack(images, pixel_size), ImageStack(truth, pixel_size))
    p = [psnr(f, t).values["psnr_dB"] for f, t in zip(fitted, truth)]
    s = [ssim(f, t, data_range=float(t.max() - t.min()) or 1.0).values["ssim"] for f, t in zip(fitted, truth)]
    return MetricResult({"frc_0.5_A": curve.values["resolution_0.5_A"],
                         "frc_0.143_A": curve.values["resolution_0.143_A"],
                         "psnr_dB": float(np.mean(p)), "ssim": float(np.mean(s))}, curve.curves)
