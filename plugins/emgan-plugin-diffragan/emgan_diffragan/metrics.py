"""DiffraGAN's metric: the difference mask of the paper's Figure 4, one function."""

from __future__ import annotations

import numpy as np

from emgan_core.api import EmganError, MetricResult, as_array, fit_to


def difference_mask(images: np.ndarray, truth: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """(n, y, x) bool: |a·image + b − truth| > threshold · (max − min of truth), per image, after the
    least-squares fit a·image + b onto the truth."""
    if not 0 < threshold < 1:
        raise EmganError(f"threshold is a fraction of the truth's range in (0, 1), got {threshold}",
                         "difference-mask.threshold")
    fitted = fit_to(images, truth)
    span = np.ptp(truth.reshape(len(truth), -1), axis=1)[:, None, None]
    return np.abs(fitted - truth) > threshold * span


def masked_fraction(output, reference, threshold: float = 0.1) -> MetricResult:
    """``masked_fraction``: the share of pixels of (n, y, x) images in the difference mask (lower is
    better; the paper's Figure 4 shows the masks)."""
    images, truth = as_array(output), as_array(reference)
    if images.ndim == 2:
        images, truth = images[None], truth[None]
    return MetricResult({"masked_fraction": float(difference_mask(images, truth, threshold).mean())})
