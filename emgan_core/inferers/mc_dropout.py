"""Monte-Carlo dropout (Gal & Ghahramani 2016): run a stochastic generator N times, keep the
per-voxel mean and standard deviation.

Works with any network holding dropout layers, whatever its task's inference does: while
:func:`dropout_sampling` is active, every dropout layer runs in training mode (a forward pre-hook
sets it, so a task calling ``.eval()`` on its generator cannot switch it off) and everything else
(batch norm included) stays as the task set it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import EmganError
from ..volume import ImageStack, Volume


def dropout_layers(*modules: nn.Module) -> list[nn.Module]:
    """The dropout layers inside ``modules``."""
    return [m for module in modules for m in module.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


@contextlib.contextmanager
def dropout_sampling(*modules: nn.Module):
    """Keep every dropout layer of ``modules`` sampling (training mode) inside the block."""
    layers = dropout_layers(*modules)
    if not layers:
        raise EmganError("the generator has no dropout layers; Monte-Carlo dropout needs some "
                         "(e.g. generator.params.dropout > 0)", "mc-samples")
    states = [layer.training for layer in layers]
    hooks = [layer.register_forward_pre_hook(lambda m, args: setattr(m, "training", True)) for layer in layers]
    try:
        yield layers
    finally:
        for hook in hooks:
            hook.remove()
        for layer, state in zip(layers, states):
            layer.training = state


def _data(value) -> np.ndarray:
    return np.asarray(value.data if isinstance(value, (Volume, ImageStack)) else value, dtype=np.float64)


def _like(value, data: np.ndarray):
    if isinstance(value, (Volume, ImageStack)):
        return dataclasses.replace(value, data=data.astype(np.float32))
    return data.astype(np.float32)


def mc_dropout(run: Callable[[], object], modules: list[nn.Module], samples: int, seed: int = 0):
    """(mean, std) of ``samples`` calls of ``run()`` with dropout sampling in ``modules``.

    ``run`` returns a Volume, an ImageStack or an array; mean and std come back as the same type with
    the same geometry. The std is the sample standard deviation (ddof 1), accumulated with
    Welford's update, so memory stays at three copies of one output. Sample i uses torch seed
    ``seed + i``.
    """
    if samples < 2:
        raise EmganError(f"Monte-Carlo dropout needs at least 2 samples, got {samples}", "mc-samples")
    first = mean = m2 = None
    with dropout_sampling(*modules):
        for i in range(samples):
            torch.manual_seed(seed + i)
            out = run()
            x = _data(out)
            if first is None:
                first, mean, m2 = out, np.zeros_like(x), np.zeros_like(x)
            delta = x - mean
            mean += delta / (i + 1)
            m2 += delta * (x - mean)
    return _like(first, mean), _like(first, np.sqrt(m2 / (samples - 1)))
