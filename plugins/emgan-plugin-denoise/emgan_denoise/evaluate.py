"""Scores of denoised and noisy images against clean projections (the paper's comparison).

FRC (core ``metric/frc``, mean curve over images) is blind to scale. PSNR and SSIM are not, and
noisy particles and clean projections are in different units, so each image (noisy or denoised) is
first mapped onto its clean projection by the least-squares affine fit a·x + b: neither is
penalised for its scale, only for what no scaling can fix.
"""

from __future__ import annotations

import numpy as np

from emgan_core.metrics import frc, psnr, ssim
from emgan_core.volume import ImageStack


def fit_to(images: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per image (n, y, x), the least-squares a·image + b onto ``truth``."""
    x = images.reshape(len(images), -1).astype(np.float64)
    t = truth.reshape(len(truth), -1).astype(np.float64)
    xc, tc = x - x.mean(1, keepdims=True), t - t.mean(1, keepdims=True)
    a = (xc * tc).sum(1, keepdims=True) / np.maximum((xc * xc).sum(1, keepdims=True), 1e-30)
    return (a * xc + t.mean(1, keepdims=True)).reshape(images.shape)


def image_scores(images: np.ndarray, truth: np.ndarray, pixel_size: float) -> dict[str, float]:
    """FRC-0.5 and FRC-0.143 resolution (Å), PSNR (dB) and SSIM, means over (n, y, x) images."""
    fitted = fit_to(images, truth)
    curve = frc(ImageStack(images, pixel_size), ImageStack(truth, pixel_size)).values
    p = [psnr(f, t).values["psnr_dB"] for f, t in zip(fitted, truth)]
    s = [ssim(f, t, data_range=float(t.max() - t.min()) or 1.0).values["ssim"] for f, t in zip(fitted, truth)]
    return {"frc_0.5_A": curve["resolution_0.5_A"], "frc_0.143_A": curve["resolution_0.143_A"],
            "psnr_dB": float(np.mean(p)), "ssim": float(np.mean(s))}


def compare(noisy: np.ndarray, denoised: np.ndarray, clean: np.ndarray, pixel_size: float) -> dict[str, dict]:
    """{"noisy": scores, "denoised": scores} against ``clean``."""
    return {"noisy": image_scores(noisy, clean, pixel_size), "denoised": image_scores(denoised, clean, pixel_size)}
