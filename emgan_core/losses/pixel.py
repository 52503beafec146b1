"""Pixel-wise losses between a generated tensor and its target (same shape, mean over elements)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..interfaces import Loss


class L1Loss(Loss):
    """Mean absolute error."""

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(output, target)


class SmoothL1Loss(Loss):
    """Huber-like loss: quadratic below ``beta``, linear above (struc2mapGAN's content term)."""

    def __init__(self, beta: float = 1.0):
        if not beta > 0:
            raise ValueError(f"beta must be positive, got {beta}")
        self.beta = float(beta)

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.smooth_l1_loss(output, target, beta=self.beta)


class MSELoss(Loss):
    """Mean squared error (SuperEM's content term)."""

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(output, target)
