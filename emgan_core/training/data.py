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
from torch.utils.data import Dataset, Sampler

Loader = Callable[[], tuple[np.ndarray, np.ndarray]]


class PatchPairs(Dataset):
    """Random (input, target) patches from pairs of arrays.

    ``loaders[k]()`` returns (input (C, *S), target (C_t, *S)) float32 arrays of the same spatial
    shape S = (z, y, x), optionally followed by a dict of per-pair scalars (e.g. the target's
    resolution in Å) that every patch of the pair carries. For 2D work (``spatial_dims=2``) S is a stack (n, y, x) and patches are
    (C, y, x) images taken from one slice. ``augment``: ``flips`` (bool), ``rot90`` (bool), and
    input-only torchio ``noise`` (std), ``blur`` (std in voxels), ``anisotropy`` (max downsampling).
    """

    def __init__(self, loaders: Sequence[Loader], patch_size, length: int, seed: int = 0,
                 spatial_dims: int = 3, augment: dict | None = None, cache_size: int = 8):
        self.loaders = list(loaders)
        if not self.loaders:
            raise ValueError("no training pairs")
        size = [int(v) for v in np.atleast_1d(patch_size)]
        self.patch = tuple(size * spatial_dims if len(size) == 1 else size)
        self.length = int(length)
        self.seed = int(seed)
        self.spatial_dims = spatial_dims
        self.augment = dict(augment or {})
        self._load = functools.lru_cache(maxsize=cache_size)(lambda k: self.loaders[k]())

    def __len__(self) -> int:
        return self.length

    def _crop(self, arr: np.ndarray, start, size) -> np.ndarray:
        spatial = arr.shape[1:]
        out = np.zeros((arr.shape[0],) + tuple(size), np.float32)
        src = tuple(slice(max(0, s), min(n, s + p)) for s, p, n in zip(start, size, spatial))
        dst = tuple(slice(sl.start - s, sl.stop - s) for sl, s in zip(src, start))
        out[(slice(None),) + dst] = arr[(slice(None),) + src]
        return out

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(index)])
        k = int(rng.integers(len(self.loaders)))
        inp, tgt, *rest = self._load(k)
        extras = rest[0] if rest else {}
        spatial = inp.shape[1:]
        if self.spatial_dims == 2:
            size = (1,) + self.patch
        else:
            size = self.patch
        start = [int(rng.integers(0, max(1, n - p + 1))) for n, p in zip(spatial, size)]
        x = self._crop(inp, start, size)
        y = self._crop(tgt, start, size)
        if self.spatial_dims == 2:
            x, y = x[:, 0], y[:, 0]
        x, y = self._geometric(x, y, rng)
        x = self._intensity(x, rng)
        item = {"input": torch.from_numpy(np.ascontiguousarray(x)),
                "target": torch.from_numpy(np.ascontiguousarray(y))}
        item.update({key: torch.tensor(float(v)) for key, v in extras.items()})
        return item

    def _geometric(self, x, y, rng):
        axes = list(range(1, x.ndim))
        if self.augment.get("flips"):
            flip = [a for a in axes if rng.random() < 0.5]
            if flip:
                x, y = np.flip(x, flip), np.flip(y, flip)
        if self.augment.get("rot90") and len(set(self.patch)) == 1:
            plane = [axes[i] for i in rng.choice(len(axes), 2, replace=False)]
            turns = int(rng.integers(4))
            x, y = np.rot90(x, turns, plane), np.rot90(y, turns, plane)
        return x, y

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
