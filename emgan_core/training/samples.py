"""The seeded sample dataset every task's training data derives from.

Item ``i`` of a training dataset is drawn with its own generator seeded by (seed, i): which sample,
its noise, its flips and quarter turns. Any worker, any rank, a resumed run — all see the same item
for the same index. A validation dataset (``length`` None) is every sample once, in order, without
augmentation; its noise comes from a separate stream, (seed, i, 1), so that no validation item
repeats the noise of a training item even when both datasets get the same seed.

A subclass says how many samples there are (``count``) and how one is drawn (:meth:`draw`); the base
does the seeding, the picking and the geometric augmentation shared by all methods.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import EmganError


def geometric(sample: dict[str, Any], rng: np.random.Generator, spatial_dims: int, flips: bool = False,
              rot90: bool = False) -> dict[str, Any]:
    """The same random axis flips (each axis with probability ½) and quarter turns (a random plane
    of two spatial axes, 0–3 turns) applied to every array of ``sample`` with ``spatial_dims`` + 1
    dimensions (channel first: (C, z, y, x) or (C, y, x)); other entries pass unchanged. Quarter
    turns need square (cubic) arrays."""
    arrays = [k for k, v in sample.items() if isinstance(v, np.ndarray) and v.ndim == spatial_dims + 1]
    if not arrays:
        return sample
    axes = list(range(1, spatial_dims + 1))
    out = dict(sample)
    if flips:
        flip = [a for a in axes if rng.random() < 0.5]
        if flip:
            out.update({k: np.flip(out[k], flip) for k in arrays})
    shapes = {out[k].shape[1:] for k in arrays}
    if rot90 and all(len(set(s)) == 1 for s in shapes):
        plane = tuple(int(a) for a in rng.choice(axes, 2, replace=False))
        turns = int(rng.integers(4))
        out.update({k: np.rot90(out[k], turns, plane) for k in arrays})
    return out


def as_tensors(sample: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Arrays → contiguous float32 tensors (integer arrays keep their type), numbers → 0-d tensors."""
    out = {}
    for key, value in sample.items():
        if isinstance(value, np.ndarray):
            value = np.ascontiguousarray(value)
            out[key] = torch.from_numpy(value if value.dtype.kind in "iub" else value.astype(np.float32, copy=False))
        elif isinstance(value, torch.Tensor):
            out[key] = value
        else:
            out[key] = torch.tensor(value, dtype=torch.long if isinstance(value, (int, np.integer)) else torch.float32)
    return out


class SeededSamples(Dataset):
    """Deterministic items ``{name: tensor}`` over ``count`` samples.

    Args:
        count: number of distinct samples (the validation length).
        length: training length (items drawn at random), or None for validation (each sample once).
        seed: base seed; training item ``i`` uses ``numpy.random.default_rng([seed, i])``,
            validation item ``i`` ``default_rng([seed, i, 1])``.
        augment: ``flips`` / ``rot90`` (a mapping or :class:`~emgan_core.settings.train.Augment`),
            applied to training items only.
        spatial_dims: 3 for (C, z, y, x) arrays, 2 for (C, y, x).
        what: what a sample is, for the error when there is none ("cubes", "images").
    """

    def __init__(self, count: int, length: int | None = None, seed: int = 0, augment: Any = None,
                 spatial_dims: int = 3, what: str = "samples"):
        if count < 1:
            raise EmganError(f"no {what} to draw from", "data")
        self.count, self.length, self.seed = int(count), length, int(seed)
        self.spatial_dims = int(spatial_dims)
        self.augment = _augment_dict(augment)

    @property
    def training(self) -> bool:
        return self.length is not None

    def __len__(self) -> int:
        return self.count if self.length is None else int(self.length)

    def pick(self, rng: np.random.Generator) -> Any:
        """Which sample a training item is (default: uniformly one of ``count``)."""
        return int(rng.integers(self.count))

    def draw(self, key: Any, rng: np.random.Generator) -> dict[str, Any]:
        """Sample ``key`` (an index, or what :meth:`pick` returns) as arrays (C, *S) and numbers;
        ``rng`` is the item's own generator (for noise, crops)."""
        raise NotImplementedError

    def transform(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """Training-time augmentation (default: :func:`geometric` with ``flips`` / ``rot90``)."""
        return geometric(sample, rng, self.spatial_dims, bool(self.augment.get("flips")),
                         bool(self.augment.get("rot90")))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not self.training:
            return as_tensors(self.draw(int(i), np.random.default_rng([self.seed, int(i), 1])))
        rng = np.random.default_rng([self.seed, int(i)])
        return as_tensors(self.transform(self.draw(self.pick(rng), rng), rng))


def _augment_dict(augment: Any) -> dict:
    if augment is None:
        return {}
    if isinstance(augment, dict):
        return dict(augment)
    from dataclasses import asdict

    return {k: v for k, v in asdict(augment).items() if v}
