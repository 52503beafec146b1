"""Optimisers and learning-rate schedules by name, and an EMA of generator weights."""

from __future__ import annotations

import copy
import math

import torch

from ..errors import EmganError
from ..settings.train import OPTIMIZERS as _OPTIMIZER_NAMES

OPTIMIZERS = {name: getattr(torch.optim, cls) for name, cls in _OPTIMIZER_NAMES.items()}


def build_optimizer(params, spec: dict, where: str) -> torch.optim.Optimizer:
    """``{name: adam|nadam|rmsprop|adamw, lr: …, betas: [b1, b2], weight_decay: …, …}``."""
    spec = dict(spec)
    name = str(spec.pop("name", "adam")).lower()
    if name not in OPTIMIZERS:
        raise EmganError(f"unknown optimizer '{name}' (choose from {', '.join(OPTIMIZERS)})", f"{where}.name")
    if "betas" in spec:
        spec["betas"] = tuple(spec["betas"])
    try:
        return OPTIMIZERS[name](params, **spec)
    except (TypeError, ValueError) as err:
        raise EmganError(f"{err}", where) from None


def build_scheduler(optimizer, spec: dict | None, total_steps: int, where: str):
    """None, or a LambdaLR for ``cosine`` (to ``min_factor``), ``step`` (``every``, ``gamma``) or
    ``linear-decay`` (constant until ``start`` then linear to 0, as pix2pix)."""
    if not spec:
        return None
    spec = dict(spec)
    name = spec.pop("name", None)
    if name == "cosine":
        floor = float(spec.pop("min_factor", 0.0))
        fn = lambda s: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps))  # noqa: E731
    elif name == "step":
        every, gamma = int(spec.pop("every")), float(spec.pop("gamma", 0.1))
        fn = lambda s: gamma ** (s // every)  # noqa: E731
    elif name == "linear-decay":
        start = int(spec.pop("start", total_steps // 2))
        fn = lambda s: 1.0 if s < start else max(0.0, 1 - (s - start) / max(1, total_steps - start))  # noqa: E731
    else:
        raise EmganError(f"unknown schedule '{name}' (cosine, step, linear-decay)", f"{where}.name")
    if spec:
        raise EmganError(f"unknown schedule settings {sorted(spec)}", where)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)


class EMA:
    """Exponential moving average of a module's parameters and buffers (decay per step)."""

    def __init__(self, module: torch.nn.Module, decay: float):
        self.decay = float(decay)
        self.shadow = copy.deepcopy(module).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        for s, p in zip(self.shadow.parameters(), module.parameters()):
            s.lerp_(p.detach(), 1.0 - self.decay)
        for s, b in zip(self.shadow.buffers(), module.buffers()):
            s.copy_(b)
