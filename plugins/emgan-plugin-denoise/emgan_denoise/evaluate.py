"""Scores of denoised and noisy images against clean projections (the paper's comparison).

Both are scored by the core's ``image_scores`` (FRC, and PSNR/SSIM after a per-image least-squares
fit onto the truth, since noisy particles and clean projections are in different units).
"""

from __future__ import annotations

import numpy as np

from emgan_core.metrics import image_scores


def compare(noisy: np.ndarray, denoised: np.ndarray, clean: np.ndarray, pixel_size: float) -> dict[str, dict]:
    """{"noisy": scores, "denoised": scores} against ``clean``."""
    return {"noisy": image_scores(noisy, clean, pixel_size).values,
            "denoised": image_scores(denoised, clean, pixel_size).values}
