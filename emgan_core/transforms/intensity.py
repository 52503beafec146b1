"""Intensity normalisation of maps, images and samples: the one place every task takes it from.

``per_sample`` treats the first axis as samples (an (n, y, x) stack, an (n, C, z, y, x) batch), each
normalised on its own; otherwise the whole array is one sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NORMALISATIONS = ("none", "minmax", "signed-minmax", "zscore", "percentile")


def _axes(data: np.ndarray, per_sample: bool):
    return tuple(range(1, data.ndim)) if per_sample else None


def normalise(data: np.ndarray, mode: str, scale: float = 1.0, per_sample: bool = False) -> np.ndarray:
    """float32 ``data`` normalised by ``mode``:

    - ``none``: unchanged;
    - ``minmax``: min → 0, max → 1; ``signed-minmax``: min → −1, max → +1 (tanh outputs);
    - ``zscore``: (x − mean) / (std · ``scale``), i.e. in units of ``scale`` standard deviations;
    - ``percentile``: x divided by the 99.9th percentile of its non-zero values, values above 1 set
      to 1 (the struc2mapGAN authors' ``percentileNorm``, which also sets negatives to 0; here they
      are kept, so that zero-mean solvent noise stays zero-mean). Zero stays zero: a masked map
      keeps a background of exactly 0.

    A constant sample becomes 0.
    """
    if mode not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation '{mode}' (choose from {', '.join(NORMALISATIONS)})")
    data = np.asarray(data, dtype=np.float32)
    if mode == "none":
        return data
    if mode == "zscore":
        return Standardiser.of(data, per_sample).apply(data, scale)
    if mode == "percentile":
        return _percentile(data, per_sample)
    axes = _axes(data, per_sample)
    lo, hi = data.min(axis=axes, keepdims=True), data.max(axis=axes, keepdims=True)
    span = np.where(hi > lo, hi - lo, np.float32(np.inf))
    unit = (data - lo) / span  # float32 throughout: maps of 10⁸ voxels stay within 2× their size
    if mode == "minmax":
        return unit
    return (2.0 * unit - np.where(hi > lo, 1.0, 0.0)).astype(np.float32)


def _percentile(data: np.ndarray, per_sample: bool, q: float = 99.9) -> np.ndarray:
    samples = data if per_sample else data[None]
    out = np.empty_like(samples)
    for i, x in enumerate(samples):
        nonzero = x[x != 0]
        level = float(np.percentile(nonzero, q)) if nonzero.size else 0.0
        out[i] = np.minimum(x / level, 1.0) if level > 0 else 0.0
    return out if per_sample else out[0]


@dataclass(frozen=True)
class Standardiser:
    """The mean and standard deviation of a sample (or of each sample), to map others through the
    same affine transform and back: a noisy particle's statistics applied to its clean target, and
    the generator's output returned to the input's units."""

    mean: np.ndarray
    sd: np.ndarray

    @classmethod
    def of(cls, data: np.ndarray, per_sample: bool = False) -> "Standardiser":
        """Mean and standard deviation accumulated in float64 (exact for large maps)."""
        x = np.asarray(data)
        axes = _axes(x, per_sample)
        sd = x.std(axis=axes, keepdims=True, dtype=np.float64)
        return cls(x.mean(axis=axes, keepdims=True, dtype=np.float64), np.where(sd > 0, sd, 1.0))

    def apply(self, data: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """(x − mean) / (sd · scale), float32."""
        mean, sd = self.mean.astype(np.float32), (self.sd * scale).astype(np.float32)
        return ((np.asarray(data, np.float32) - mean) / sd).astype(np.float32, copy=False)

    def invert(self, data: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """x · sd · scale + mean, float32."""
        mean, sd = self.mean.astype(np.float32), (self.sd * scale).astype(np.float32)
        return (np.asarray(data, np.float32) * sd + mean).astype(np.float32, copy=False)
