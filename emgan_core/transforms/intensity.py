"""Intensity normalisation of maps and images."""

from __future__ import annotations

import numpy as np

NORMALISATIONS = ("none", "minmax", "zscore")


def normalise(data: np.ndarray, mode: str) -> np.ndarray:
    """``none``, ``minmax`` (to [0, 1]) or ``zscore`` (mean 0, standard deviation 1); float32."""
    data = np.asarray(data, dtype=np.float32)
    if mode == "none":
        return data
    if mode == "minmax":
        lo, hi = float(data.min()), float(data.max())
        return (data - lo) / (hi - lo) if hi > lo else np.zeros_like(data)
    if mode == "zscore":
        sd = float(data.std())
        return (data - data.mean()) / sd if sd > 0 else np.zeros_like(data)
    raise ValueError(f"unknown normalisation '{mode}' (choose from {', '.join(NORMALISATIONS)})")
