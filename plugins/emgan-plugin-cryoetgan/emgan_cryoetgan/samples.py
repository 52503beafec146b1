"""Map-style datasets over in-memory samples, normalised per sample for tanh networks."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


def normalise(sample: np.ndarray, scale: float) -> np.ndarray:
    """(x − mean) / (std · scale): a sample's values in units of ``scale`` standard deviations."""
    sd = float(sample.std()) or 1.0
    return ((sample - float(sample.mean())) / (sd * scale)).astype(np.float32)


def _flip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random flips of the spatial axes (each with probability ½); they keep a y-axis wedge a wedge."""
    axes = [a for a in range(x.ndim) if rng.random() < 0.5]
    return np.ascontiguousarray(np.flip(x, axes)) if axes else x


def add_noise(sample: np.ndarray, sigma: float, scale: float, rng: np.random.Generator) -> np.ndarray:
    """A sample (already :func:`normalise`-d) plus zero-mean Gaussian noise of ``sigma`` standard deviations of
    the sample (so σ/scale in normalised units): CryoETGAN's noise on the density maps."""
    if not sigma:
        return sample
    return (sample + rng.standard_normal(sample.shape) * (sigma / scale)).astype(np.float32)


class UnpairedSamples(Dataset):
    """Item ``i``: {"a": (1, *S), "b": (1, *S)}, a random sample of each domain drawn independently
    from a generator seeded by (seed, i), flipped if ``flips``. With ``length`` None: the first
    min(len(a), len(b)) samples in order, pairs (i, i), no flips (validation). ``noise_a``: σ of the
    Gaussian noise added to every domain-A sample after normalisation, in the sample's standard
    deviations (:func:`add_noise`), fresh at each draw."""

    def __init__(self, a: np.ndarray, b: np.ndarray, scale: float, length: int | None = None, seed: int = 0,
                 flips: bool = False, noise_a: float = 0.0):
        self.a, self.b, self.scale = a, b, float(scale)
        self.length, self.seed, self.flips, self.noise_a = length, seed, bool(flips), float(noise_a)

    def __len__(self) -> int:
        return self.length if self.length is not None else min(len(self.a), len(self.b))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        out = {}
        if self.length is None:
            rng = np.random.default_rng([self.seed, int(i), 1])
            picks = {"a": self.a[i], "b": self.b[i]}
        else:
            rng = np.random.default_rng([self.seed, int(i)])
            picks = {"a": self.a[rng.integers(len(self.a))], "b": self.b[rng.integers(len(self.b))]}
            if self.flips:
                picks = {k: _flip(v, rng) for k, v in picks.items()}
        for k, v in picks.items():
            x = normalise(v, self.scale)
            if k == "a":
                x = add_noise(x, self.noise_a, self.scale, rng)
            out[k] = torch.from_numpy(x[None])
        return out


class LabelledSamples(Dataset):
    """Item ``i``: {"x": (1, *S), "y": class index}; random draws as :class:`UnpairedSamples` when
    ``length`` is given, else every sample once in order."""

    def __init__(self, samples: np.ndarray, classes: np.ndarray, scale: float, length: int | None = None,
                 seed: int = 0, flips: bool = False):
        self.samples, self.classes, self.scale = samples, np.asarray(classes, np.int64), float(scale)
        self.length, self.seed, self.flips = length, seed, bool(flips)

    def __len__(self) -> int:
        return self.length if self.length is not None else len(self.samples)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if self.length is not None:
            rng = np.random.default_rng([self.seed, int(i)])
            i = int(rng.integers(len(self.samples)))
            x = _flip(self.samples[i], rng) if self.flips else self.samples[i]
        else:
            x = self.samples[i]
        return {"x": torch.from_numpy(normalise(x, self.scale)[None]), "y": torch.tensor(self.classes[i])}
