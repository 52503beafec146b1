"""Single-axis tilt series of a volume and their reconstruction.

Axes: volumes are (z, y, x) with z the beam at zero tilt; the tilt axis is y. A tilt series is
(n_tilts, y, u) with u the detector axis perpendicular to the tilt axis. Angles in degrees.
Forward projection and back-projection use the same trilinear rotation, so they are adjoint up to
interpolation. The missing wedge of a ±θ series is the set of Fourier directions in the (k_z, k_x)
plane more than θ from the k_x axis: reconstructions are elongated along z.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def tilt_angles(max_tilt: float = 60.0, step: float = 3.0) -> np.ndarray:
    """−max_tilt … +max_tilt in ``step`` degrees (both ends included when they fall on the step)."""
    n = int(np.floor(max_tilt / step + 1e-9))
    return np.arange(-n, n + 1) * float(step)


def _rotate(volume: np.ndarray, angle: float) -> np.ndarray:
    """``volume`` turned by ``angle`` degrees about the y axis (in the (z, x) plane), same box."""
    return ndimage.rotate(volume, angle, axes=(0, 2), reshape=False, order=1, mode="constant", cval=0.0)


def project_tilt_series(volume: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Line integrals along the tilted beam: (n_tilts, y, x) in density × voxel units."""
    return np.stack([_rotate(volume, a).sum(0) for a in angles]).astype(np.float32)


def ramp_filter(series: np.ndarray) -> np.ndarray:
    """R-weighting: |k_u| along the detector axis (the DC term kept at half a bin so the mean survives)."""
    n = series.shape[-1]
    k = np.abs(np.fft.fftfreq(n))
    k[0] = 0.25 / n
    return np.fft.ifft(np.fft.fft(series, axis=-1) * k, axis=-1).real


def back_project(series: np.ndarray, angles: np.ndarray, depth: int) -> np.ndarray:
    """Smear each (y, x) projection through ``depth`` z-planes and turn it back: (depth, y, x)."""
    out = np.zeros((depth,) + series.shape[1:], np.float64)
    for image, a in zip(series, angles):
        out += _rotate(np.broadcast_to(image, out.shape).astype(np.float32), -a)
    return out


def weighted_back_projection(series: np.ndarray, angles: np.ndarray, depth: int) -> np.ndarray:
    """WBP reconstruction (depth, y, x) of a tilt series (n_tilts, y, x) at ``angles`` degrees."""
    return (back_project(ramp_filter(series), angles, depth) * (np.pi / (2 * len(angles)))).astype(np.float32)


def wedge_mask(shape: tuple[int, int, int], max_tilt: float) -> np.ndarray:
    """Boolean (z, y, x) mask in ``np.fft.fftn`` layout of the Fourier directions a ±``max_tilt``°
    series about y samples: |k_z| ≤ tan(max_tilt)·|k_x| (the k_z axis line itself is missing)."""
    kz = np.fft.fftfreq(shape[0])[:, None, None]
    kx = np.fft.fftfreq(shape[2])[None, None, :]
    keep = np.abs(kz) <= np.tan(np.deg2rad(max_tilt)) * np.abs(kx) + 1e-12
    return np.broadcast_to(keep, shape).copy()


def radial_ctf(shape: tuple[int, int, int], voxel_size: float, defocus: float, **optics) -> np.ndarray:
    """A (z, y, x) CTF in ``fftn`` layout as a function of |k|: what every tilt's 2D CTF puts on its
    central slice when the defocus is the same across the image (no defocus gradient)."""
    from emgan_core.api import ctf_2d

    k = np.sqrt(sum(np.meshgrid(*(np.fft.fftfreq(n, voxel_size) ** 2 for n in shape), indexing="ij")))
    n = 2 * max(shape)  # a 1D profile on a fine 2D line, interpolated at |k|
    line = ctf_2d((1, n), voxel_size / 2.0, defocus, **optics)[0, : n // 2 + 1]
    freqs = np.fft.rfftfreq(n, voxel_size / 2.0)
    return np.interp(k, freqs, line)
