"""Lipschitz constraints for Wasserstein critics."""

from __future__ import annotations

import torch


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(‖∇D(x̂)‖₂ − 1)²] at random interpolates x̂ of real and fake."""
    alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


@torch.no_grad()
def clip_weights(module: torch.nn.Module, limit: float) -> None:
    """WGAN weight clipping: clamp every parameter to [−limit, limit]."""
    for p in module.parameters():
        p.clamp_(-limit, limit)
