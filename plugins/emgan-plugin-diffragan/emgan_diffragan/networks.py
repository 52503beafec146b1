"""``generator/diffragan-unet``: the core pix2pix U-Net with DiffraGAN's two inputs; and
``generator/diffragan-phasing-unet``: the same with a classical phaser's output as a third channel."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

import numpy as np
import torch

from emgan_core.api import Range, UNetGenerator


class DiffraGANUNet(UNetGenerator):
    """(B, 2, y, x) (diffraction pattern, low-res image) → (B, 1, y, x) high-res image, tanh.

    Defaults fit 256×256 images (depth 8: a 1×1 bottleneck); use depth 6 for 64×64.
    ``in_channels`` 3 takes the task's optional phase-extended channel (``task.params.hybrid``).
    """

    def __init__(self, channels: int = 64, depth: Annotated[int, Range(min=1, max=12)] = 8, dropout: float = 0.5,
                 dropout_layers: int = 3,
                 norm: Literal["batch", "instance", "none"] = "batch", in_channels: int = 2):
        super().__init__(in_channels=in_channels, out_channels=1, channels=channels, depth=depth, dropout=dropout,
                         dropout_layers=dropout_layers, norm=norm, spatial_dims=2, output="tanh")


def _digest(array: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).digest()


class DiffraGANPhasingUNet(UNetGenerator):
    """(B, 2, y, x) (diffraction pattern, low-res image) → (B, 1, y, x) high-res image, tanh, with
    the pattern entering in the Fourier domain: a classical phaser (:mod:`emgan_diffragan.phasing`:
    the pattern's amplitudes on the images' Fourier grid, hybrid input-output from the low-res
    image's phases with a shrink-wrapped positive support, the twin and shift fixed on the low-res
    image) turns each triplet into a projected-potential estimate, which the U-Net gets as a third
    channel (scaled to [-1, 1] per image). The phaser has no weights; each triplet is phased once,
    in a canonical quarter turn, and kept in a cache of ``cache_mb`` MiB, so the channel of a turned
    triplet is the turned channel whatever order the turns come in.

    The pattern channel must be linear in intensity (``task.params.diffraction: linear``; the
    task's min-max scaling leaves amplitudes known up to scale). Geometry, from the simulator:
    ``pattern_k`` Å⁻¹ per pattern pixel (its mrad/pixel / (1000 λ)) and the images' ``pixel_size``
    (Å). ``phasing``: overrides of :data:`emgan_diffragan.phasing.DEFAULTS`. Not in the paper.
    """

    def __init__(self, pattern_k: float, pixel_size: float, channels: int = 64,
                 depth: Annotated[int, Range(min=1, max=12)] = 8,
                 dropout: float = 0.5, dropout_layers: int = 3,
                 norm: Literal["batch", "instance", "none"] = "batch", phasing: dict | None = None,
                 cache_mb: float = 1024.0):
        super().__init__(in_channels=3, out_channels=1, channels=channels, depth=depth, dropout=dropout,
                         dropout_layers=dropout_layers, norm=norm, spatial_dims=2, output="tanh")
        if not (pattern_k > 0 and pixel_size > 0):
            raise ValueError(f"pattern_k and pixel_size must be positive, got {pattern_k}, {pixel_size}")
        self.pattern_k, self.pixel_size = float(pattern_k), float(pixel_size)
        self.phasing = dict(phasing or {})
        self.cache_bytes = int(float(cache_mb) * 2**20)
        self._cache: dict[bytes, np.ndarray] = {}

    def phased(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, y, x) phased channel in [-1, 1] of a (B, 2, y, x) input."""
        from .phasing import phase_triplets
        from .task import to_unit_range

        arrays = x.detach().float().cpu().numpy()
        out = np.empty((len(arrays),) + arrays.shape[-2:], np.float32)
        todo, canonical = [], []
        for i, a in enumerate(arrays):
            # each triplet is phased in one canonical quarter turn (the smallest digest of the four),
            # so the channel does not depend on which turn was seen first
            keys = [_digest(np.rot90(a, t, (1, 2))) for t in range(4)]
            turns = min(range(4), key=keys.__getitem__)
            canonical.append((turns, keys[turns]))
            hit = self._cache.get(keys[turns])
            if hit is not None:
                out[i] = np.rot90(hit, -turns)
            else:
                todo.append(i)
        if todo:
            turned = np.stack([np.rot90(arrays[i], canonical[i][0], (1, 2)) for i in todo])
            # the pattern channel is min-max scaled intensity: +1 restores I up to scale (its minimum,
            # a blocked or dark pixel, is ~1e-5 of the maximum)
            phased = to_unit_range(phase_triplets(turned[:, 0] + 1.0, turned[:, 1], self.pattern_k,
                                                  self.pixel_size, **self.phasing))
            for i, p in zip(todo, phased):
                turns, key = canonical[i]
                out[i] = np.rot90(p, -turns)
                while self._cache and (len(self._cache) + 1) * p.nbytes > self.cache_bytes:
                    self._cache.pop(next(iter(self._cache)))
                if p.nbytes <= self.cache_bytes:
                    self._cache[key] = p
        return torch.from_numpy(out)[:, None].to(device=x.device, dtype=x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 2:
            raise ValueError(f"expected (B, 2, y, x) (diffraction, low-res), got {tuple(x.shape)}")
        return super().forward(torch.cat([x, self.phased(x)], 1))
