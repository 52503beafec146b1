"""``task/example-deblur``: a paired method in a few lines — learn a map from its blurred copy.

Everything but the pairs comes from the core: the paired game (``task/paired``: critic, losses,
patches, seeded sampling, augmentation, patch-wise inference) and its normalisation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from emgan_core.api import InputPath, PairedTask, normalise, read_map


@dataclass
class SharpMap:
    """A data item: a ``map`` (MRC) whose blurred copy is the input."""

    map: InputPath


def blurred_pair(path: str, sigma: float, mode: str):
    """(input (1, z, y, x), target (1, z, y, x)): the map blurred by ``sigma`` Å, and the map."""
    volume = read_map(path)
    blurred = gaussian_filter(volume.data.astype(np.float64), sigma / np.asarray(volume.voxel_size))
    return normalise(blurred, mode)[None], normalise(volume.data, mode)[None]


class DeblurTask(PairedTask):
    """Paired GAN from a map blurred by ``sigma`` Å to the map itself."""

    data_keys = {"train": list[SharpMap], "val": list[SharpMap] | None}

    def __init__(self, sigma: float = 2.0):
        super().__init__(conditional=True, normalise="zscore")
        if not sigma > 0:
            raise ValueError(f"sigma must be positive (Å), got {sigma}")
        self.sigma = float(sigma)

    def pair_loaders(self, split: str):
        return [functools.partial(blurred_pair, item["map"], self.sigma, self.normalise)
                for item in self.data.get(split) or []]
