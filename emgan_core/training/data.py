"""Patch datasets sampled from whole volumes (or image stacks), deterministic per sample index.

Sample ``i`` is drawn with its own generator seeded by (seed, i): which volume, where, which
flips/rotations and augmentations. Any worker, any rank, a resumed run — all see the same patch for
the same index, so a killed run continues exactly where it stopped. Volumes are loaded lazily
through a small cache, so a dataset of hundreds of maps needs no pre-cut cube files.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from .samples import SeededSamples

Loader = Callable[[], tuple[np.ndarray, np.ndarray]]


class PatchPairs(SeededSamples):
    """Random (input, target) patches from pairs of arrays.

    ``loaders[k]()`` returns (input (C, *S), target (C_t, *S)) float32 arrays of the same spatial
    shape S = (z, y, x), optionally followed by a dict of per-pair scalars (e.g. the target's
    resolution in Å) that every patch of the pair carries. For 2D work (``spatial_dims=2``) S is a
    stack (n, y, x) and patches are (C, y, x) images taken from one slice. Every item is a random
    patch (validation too: a fixed ``length`` of seeded patches). ``augment``: ``flips``, ``rot90``
    (:class:`SeededSamples`), and input-only torchio ``noise`` (std), ``blur`` (std in voxels),
    ``anisotropy`` (max downsampling). ``focus``: centre each patch on a random voxel where the
    target is non-zero (± a quarter of the patch), instead of anywhere: for masked targets, whose
    empty surroundings teach nothing.
    """

    def __init__(self, loaders: Sequence[Loader], patch_size, length: int, seed: int = 0,
                 spatial_dims: int = 3, augment: dict | None = None, cache_size: int = 8,
                 focus: bool = False):
        self.loaders = list(loaders)
        super().__init__(len(self.loaders), length, seed, augment, spatial_dims, what="training pairs")
        size = [int(v) for v in np.atleast_1d(patch_size)]
        self.patch = tuple(size * spatial_dims if len(size) == 1 else size)
        self._load = functools.lru_cache(maxsize=cache_size)(lambda k: self.loaders[k]())
        self.focus = bool(focus)
        self._dense = functools.lru_cache(maxsize=cache_size)(
            lambda k: np.flatnonzero(np.any(self._load(k)[1] != 0, axis=0)))

    @property
    def training(self) -> bool:  # every item is a random patch
        return True

    def start(self, k: int, shape, size, rng: np.random.Generator) -> list[int]:
        """Where pair ``k``'s next patch of ``size`` begins in its arrays of spatial ``shape``."""
        dense = self._dense(k) if self.focus else ()
        if len(dense):
            centre = np.unravel_index(int(dense[rng.integers(len(dense))]), shape)
            return [int(c) - p // 2 + int(rng.integers(-(p // 4), p // 4 + 1)) for c, p in zip(centre, size)]
        return [int(rng.integers(0, max(1, n - p + 1))) for n, p in zip(shape, size)]

    def draw(self, k: int, rng: np.random.Generator) -> dict:
        inp, tgt, *rest = self._load(k)
        size = (1,) + self.patch if self.spatial_dims == 2 else self.patch
        start = self.start(k, tgt.shape[1:], size, rng)
        x, y = crop(inp, start, size), crop(tgt, start, size)
        if self.spatial_dims == 2:
            x, y = x[:, 0], y[:, 0]
        return {"input": x, "target": y, **{key: float(v) for key, v in (rest[0] if rest else {}).items()}}

    def transform(self, sample: dict, rng: np.random.Generator) -> dict:
        sample = super().transform(sample, rng)
        sample["input"] = self._intensity(sample["input"], rng)
        return sample

    def _intensity(self, x, rng):
        keys = {"noise", "blur", "anisotropy"} & set(self.augment)
        if not keys:
            return x
        import torchio as tio

        transforms = []
        if self.augment.get("noise"):
            transforms.append(tio.RandomNoise(std=(0, float(self.augment["noise"]))))
        if self.augment.get("blur"):
            transforms.append(tio.RandomBlur(std=(0, float(self.augment["blur"]))))
        if self.augment.get("anisotropy") and self.spatial_dims == 3:
            transforms.append(tio.RandomAnisotropy(downsampling=(1.5, float(self.augment["anisotropy"]))))
        tensor = torch.from_numpy(np.ascontiguousarray(x))
        if self.spatial_dims == 2:
            tensor = tensor.unsqueeze(1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**31)))
            out = tio.Compose(transforms)(tensor)
        out = out.numpy()
        return out[:, 0] if self.spatial_dims == 2 else out


def crop(arr: np.ndarray, start, size) -> np.ndarray:
    """The box ``start`` + ``size`` of a (C, *S) array, zero-filled where it leaves the array."""
    spatial = arr.shape[1:]
    out = np.zeros((arr.shape[0],) + tuple(size), np.float32)
    src = tuple(slice(max(0, s), min(n, s + p)) for s, p, n in zip(start, size, spatial))
    dst = tuple(slice(sl.start - s, sl.stop - s) for sl, s in zip(src, start))
    out[(slice(None),) + dst] = arr[(slice(None),) + src]
    return out


class StepBatchSampler(Sampler[list[int]]):
    """Endless batches of sample indices; global batch b on rank r of w holds
    ``(b·w + r)·B … (b·w + r)·B + B − 1``. Starting at ``start_batch`` resumes the exact stream."""

    def __init__(self, batch_size: int, start_batch: int = 0, rank: int = 0, world_size: int = 1):
        self.batch_size = int(batch_size)
        self.start_batch = int(start_batch)
        self.rank = int(rank)
        self.world_size = int(world_size)

    def __iter__(self) -> Iterator[list[int]]:
        b = self.start_batch
        while True:
            first = (b * self.world_size + self.rank) * self.batch_size
            yield list(range(first, first + self.batch_size))
            b += 1

    def __len__(self) -> int:  # endless; DataLoader needs a number
        return 2**62
