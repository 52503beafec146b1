"""Classical filters: the baselines a user would otherwise run, registered as ``filter/NAME``.

A filter maps an :class:`~emgan_core.volume.ImageStack` (n, y, x) to one of the same shape, image by
image; ``table`` is the stack's particle table (its CTF) when a benchmark input names a STAR file.
Frequencies k are in 1/Å (``np.fft.fftfreq`` of the pixel size). Benchmarks score them like any
method (``{filter: {name: lowpass, params: {cutoff: 12}}}``).
"""

from __future__ import annotations

import numpy as np

from .errors import EmganError
from .volume import ImageStack


class Filter:
    """``filter(stack, table=None) -> ImageStack`` of the same shape and pixel size."""

    def __call__(self, stack: ImageStack, table=None) -> ImageStack:
        raise NotImplementedError


def _k2(shape: tuple[int, int], pixel_size: float) -> np.ndarray:
    ky = np.fft.fftfreq(shape[0], pixel_size)[:, None]
    kx = np.fft.fftfreq(shape[1], pixel_size)[None, :]
    return kx ** 2 + ky ** 2


def _noise_variance(images: np.ndarray, snr: float) -> np.ndarray:
    """Per-image white-noise variance from the SNR (var(clean) / σ²): σ² = var(noisy) / (1 + SNR)."""
    return images.var(axis=(1, 2), dtype=np.float64) / (1.0 + snr)


class LowPass(Filter):
    """Gaussian low-pass: each image's spectrum times exp(−k² cutoff² / 2), i.e. a Gaussian of
    standard deviation 1/``cutoff`` in frequency (amplitude 0.61 at k = 1/cutoff).

    Args:
        cutoff: Å (the resolution the filter keeps).
    """

    def __init__(self, cutoff: float = 10.0):
        if not cutoff > 0:
            raise EmganError(f"cutoff must be positive (Å), got {cutoff}", "cutoff")
        self.cutoff = float(cutoff)

    def __call__(self, stack: ImageStack, table=None) -> ImageStack:
        h = np.exp(-0.5 * _k2(stack.data.shape[1:], stack.pixel_size) * self.cutoff ** 2)
        out = np.fft.ifft2(np.fft.fft2(stack.data.astype(np.float64)) * h).real
        return ImageStack(out.astype(np.float32), stack.pixel_size)


class WienerFilter(Filter):
    """Wiener filter with the noise level known (``snr`` = var(clean) / σ², white noise) and the
    signal's power spectrum estimated from the stack itself: per ring of the Fourier transform, the
    mean power of the images less the noise's (σ² per pixel). With ``ctf`` (and a particle table)
    each image is also deconvolved by its own CTF (RELION's, from the STAR file): X̂ = C S / (C² S + N),
    the mean-square-error estimate of the image before the CTF; without, X̂ = S / (S + N).

    Args:
        snr: the images' signal-to-noise ratio, as the simulator defines it.
        ctf: correct each image's CTF (needs the particle table).
    """

    def __init__(self, snr: float = 0.1, ctf: bool = False):
        if not snr > 0:
            raise EmganError(f"snr must be positive, got {snr}", "snr")
        self.snr, self.ctf = float(snr), bool(ctf)

    def __call__(self, stack: ImageStack, table=None) -> ImageStack:
        images = stack.data.astype(np.float64)
        n, ny, nx = images.shape
        spectra = np.fft.fft2(images)
        noise = _noise_variance(images, self.snr)[:, None, None] * (ny * nx)  # |FFT|² of white noise
        ctf = self._ctfs(stack, table) if self.ctf else np.ones((n, ny, nx))
        rings = np.minimum(np.round(np.sqrt(_k2((ny, nx), 1.0)) * max(ny, nx)).astype(int), max(ny, nx) // 2)
        power = np.abs(spectra) ** 2 - noise  # the signal's power as each image carries it (C² S)
        counts = np.bincount(rings.ravel(), minlength=rings.max() + 1)
        signal_in_image = np.bincount(rings.ravel(), power.sum(0).ravel()) / (n * counts)
        ctf2 = np.bincount(rings.ravel(), (ctf ** 2).sum(0).ravel()) / (n * counts)
        signal = np.clip(signal_in_image, 0, None) / np.maximum(ctf2, 1e-3)  # S per ring, CTF removed
        s = signal[rings][None]
        out = np.fft.ifft2(spectra * ctf * s / (ctf ** 2 * s + noise)).real
        return ImageStack(out.astype(np.float32), stack.pixel_size)

    def _ctfs(self, stack: ImageStack, table) -> np.ndarray:
        if table is None:
            raise EmganError("the Wiener filter with ctf: true needs the particles' STAR file (give the "
                             "benchmark input a 'star')", "filter/wiener")
        from .simulators import ctf_2d

        rows = table.require_ctf().rows
        if len(rows) != len(stack.data):
            raise EmganError(f"the STAR file has {len(rows)} particles, the stack {len(stack.data)}", str(table.path))
        return np.stack([ctf_2d(stack.data.shape[1:], stack.pixel_size, r.defocus_u, r.defocus_v, r.defocus_angle,
                                r.voltage, r.cs, r.amplitude_contrast, 0.0, r.phase_shift)
                         for r in rows.itertuples()])


class NonLocalMeans(Filter):
    """Non-local means (scikit-image ``denoise_nl_means``), image by image, with the noise's σ known
    from the SNR (as the Wiener filter's); filter strength h = 0.8 σ (scikit-image's advice), 5×5
    patches searched within 6 pixels.

    Args:
        snr: the images' SNR (var(clean) / σ²).
    """

    def __init__(self, snr: float = 0.1, patch_size: int = 5, patch_distance: int = 6):
        if not snr > 0:
            raise EmganError(f"snr must be positive, got {snr}", "snr")
        self.snr, self.patch_size, self.patch_distance = float(snr), int(patch_size), int(patch_distance)

    def __call__(self, stack: ImageStack, table=None) -> ImageStack:
        from skimage.restoration import denoise_nl_means

        images = stack.data.astype(np.float64)
        sigmas = np.sqrt(_noise_variance(images, self.snr))
        out = [denoise_nl_means(img, h=0.8 * s, sigma=s, patch_size=self.patch_size,
                                patch_distance=self.patch_distance, fast_mode=True)
               for img, s in zip(images, sigmas)]
        return ImageStack(np.stack(out).astype(np.float32), stack.pixel_size)
