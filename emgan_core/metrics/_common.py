"""Helpers shared by the metric functions: array extraction, spacing and Fourier-shell correlation."""

from __future__ import annotations

import numpy as np

from ..errors import EmganError
from ..interfaces import as_array
from ..volume import ImageStack, Volume


def pair(output, reference) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as float64 arrays of the same shape."""
    a, b = as_array(output), as_array(reference)
    if a.shape != b.shape:
        raise EmganError(f"output shape {a.shape} differs from reference shape {b.shape}; "
                         "resample onto the reference grid first (--ref-map)", "metric")
    return a, b


def spacing(output, reference, ndim: int) -> np.ndarray:
    """Sample spacing in Å along the last ``ndim`` array axes (array order), 1 Å if unknown."""
    for value in (reference, output):
        if isinstance(value, Volume):
            return value.voxel_size[::-1][-ndim:].copy()
        if isinstance(value, ImageStack):
            return np.full(ndim, value.pixel_size)
    return np.ones(ndim)


def above_threshold(a: np.ndarray, b: np.ndarray, above: float | None):
    """The voxels of both arrays where ``a`` exceeds ``above`` (all of them when None)."""
    if above is None:
        return a, b
    mask = a > above
    return a[mask], b[mask]


def correlate(a: np.ndarray, b: np.ndarray, about_mean: bool) -> float:
    """Normalised inner product of ``a`` and ``b`` (optionally after removing their means)."""
    a = a.ravel()
    b = b.ravel()
    if about_mean:
        a = a - a.mean()
        b = b - b.mean()
    denom = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / denom) if denom > 0 else 0.0


def shell_correlation(a: np.ndarray, b: np.ndarray, step: np.ndarray):
    """Fourier shell (3D) / ring (2D) correlation of ``a`` and ``b`` sampled at ``step`` Å.

    Shells are one frequency step (1 / largest extent) wide, from 0 up to Nyquist of the
    coarsest axis. Returns (frequencies in 1/Å at shell centres, correlation per shell).
    """
    fa = np.fft.rfftn(a)
    fb = np.fft.rfftn(b)
    axes = []
    for i, (n, d) in enumerate(zip(a.shape, step)):
        f = np.fft.rfftfreq(n, d) if i == a.ndim - 1 else np.fft.fftfreq(n, d)
        axes.append(f)
    grids = np.meshgrid(*axes, indexing="ij", sparse=True)
    radius = np.sqrt(sum(g ** 2 for g in grids))
    df = 1.0 / max(n * d for n, d in zip(a.shape, step))
    nyquist = 1.0 / (2.0 * max(step))
    n_shells = int(np.floor(nyquist / df + 1e-9))
    index = np.rint(radius / df).astype(np.int64).ravel()
    keep = index <= n_shells
    index = index[keep]
    cross = np.bincount(index, (fa * np.conj(fb)).real.ravel()[keep], minlength=n_shells + 1)
    pa = np.bincount(index, (np.abs(fa) ** 2).ravel()[keep], minlength=n_shells + 1)
    pb = np.bincount(index, (np.abs(fb) ** 2).ravel()[keep], minlength=n_shells + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where(pa * pb > 0, cross / np.sqrt(pa * pb), 0.0)
    freqs = np.arange(n_shells + 1) * df
    return freqs[1:], curve[1:]


def resolution_at(freqs: np.ndarray, curve: np.ndarray, threshold: float) -> float:
    """Resolution (Å) where ``curve`` first falls below ``threshold`` after having reached it
    (linear interpolation between shells).

    Shell 0 (the mean) is left out, and so are the lowest shells while the curve is still below the
    threshold: with few Fourier components they are noisy, and a dip there does not mean the
    curve has dropped. Returns the Nyquist resolution if the curve never falls below, and inf if it
    never reaches the threshold.
    """
    reached = np.nonzero(curve[1:] >= threshold)[0]
    if reached.size == 0:
        return float("inf")
    start = int(reached[0]) + 1
    below = np.nonzero(curve[start:] < threshold)[0]
    if below.size == 0:
        return float(1.0 / freqs[-1])
    i = start + int(below[0])
    c0, c1 = curve[i - 1], curve[i]
    f = freqs[i - 1] + (freqs[i] - freqs[i - 1]) * (c0 - threshold) / (c0 - c1)
    return float(1.0 / f)
