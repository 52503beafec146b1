"""Whole-input inference over a stack of samples, a batch at a time: the companion of
:class:`~emgan_core.inferers.patches.PatchInferer` for inputs a network takes whole (particle images,
triplets, subtomograms).

The inputs are streamed: only one batch is on the device at a time, and the outputs are written into
one preallocated array.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..errors import EmganError


class BatchInferer:
    """``inferer(fn, *arrays)``: ``fn`` on consecutive batches of the (n, ...) ``arrays``.

    ``fn(*batches)`` gets numpy slices of ``batch_size`` samples and returns a tensor or array of
    shape (b, ...), one result per sample; the results are collected into one float32 (n, ...)
    array. :meth:`tensor` puts a slice on the inferer's device as ``fn`` needs it.
    """

    def __init__(self, batch_size: int = 16, device: str | torch.device = "cpu"):
        if int(batch_size) < 1:
            raise EmganError(f"batch size must be >= 1, got {batch_size}", "batch_size")
        self.batch_size = int(batch_size)
        self.device = torch.device(device)

    def tensor(self, array: np.ndarray) -> torch.Tensor:
        """A float32 tensor of ``array`` on the inferer's device."""
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(self.device)

    @torch.no_grad()
    def __call__(self, fn: Callable[..., torch.Tensor | np.ndarray], *arrays: np.ndarray) -> np.ndarray:
        if not arrays:
            raise ValueError("no input arrays")
        n = len(arrays[0])
        if any(len(a) != n for a in arrays):
            raise EmganError(f"input stacks differ in length: {[len(a) for a in arrays]}", "inputs")
        if n == 0:
            raise EmganError("no samples to infer", "inputs")
        out = None
        for start in range(0, n, self.batch_size):
            batch = [a[start:start + self.batch_size] for a in arrays]
            result = fn(*batch)
            if isinstance(result, torch.Tensor):
                result = result.detach().float().cpu().numpy()
            if len(result) != len(batch[0]):
                raise EmganError(f"the network gave {len(result)} results for a batch of {len(batch[0])} samples",
                                 "inputs")
            if out is None:
                out = np.empty((n,) + result.shape[1:], np.float32)
            out[start:start + len(result)] = result
        return out
