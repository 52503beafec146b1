"""DiffraGAN's comparison: generated and low-res images against the high-res truth.

Scores are the core ``image_scores`` (mean FRC curve, its 0.5 and 0.143 resolutions in Å, SSIM and
PSNR after a per-image least-squares fit onto the truth); the FRC of the noisy low-res input is the
baseline; generating with each triplet's pattern swapped for another triplet's (``swapped``, the
control) or with a blank pattern (``blank``) shows how much of the gain the diffraction pattern
carries rather than the low-res image alone. The
difference mask is the paper's Figure 4: pixels where the fitted image and the truth differ by more
than ``threshold`` × the truth's range.
"""

from __future__ import annotations

import numpy as np

from emgan_core.metrics import fit_to, image_scores


def difference_mask(images: np.ndarray, truth: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """(n, y, x) bool: |a·image + b − truth| > threshold · (max − min of truth), per image."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold is a fraction of the truth's range in (0, 1), got {threshold}")
    fitted = fit_to(images, truth)
    span = np.ptp(truth.reshape(len(truth), -1), axis=1)[:, None, None]
    return np.abs(fitted - truth) > threshold * span


def compare(images: dict[str, np.ndarray], high: np.ndarray, pixel_size: float,
            threshold: float = 0.1) -> dict[str, dict]:
    """Scores of each named (n, y, x) image set (``low``, ``generated``…) against ``high``: the core
    image scores, the fraction of pixels in the difference mask (``masked_fraction``) and the mean
    FRC curve (``frc_curve``)."""
    out = {}
    for name, stack in images.items():
        result = image_scores(stack, high, pixel_size)
        out[name] = dict(result.values)
        out[name]["masked_fraction"] = float(difference_mask(stack, high, threshold).mean())
        out[name]["frc_curve"] = result.curves.get("frc", {})
    return out
