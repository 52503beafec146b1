"""``simulator/projection``: (noisy, clean) particle images of a map or an atomic model.

A structure is first turned into a Gaussian density map (``simulator/gaussian``, molmap
convention) on a cubic ``image_size``³ grid at ``pixel_size`` Å, centred on its centre of mass; a
map is resampled to ``pixel_size`` and centre-cropped or padded to the box. Each image is the
projection at RELION angles (given, or uniform on SO(3)), optionally multiplied by a CTF (defocus
drawn in ``defocus`` Å, phase-flipped on request), plus white Gaussian noise of standard deviation
``sigma`` (in projection units, density·Å) or set by ``snr`` = var(clean image) / σ², measured
per image over the whole box. The clean image is the same projection (with the CTF when
``ctf_in_target``) without noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from emgan_core.api import (
    Atoms,
    EmganError,
    FourierProjector,
    GaussianSimulator,
    ImageStack,
    Simulator,
    Volume,
    apply_ctf,
    ctf_2d,
    is_structure_path,
    project_real,
    random_euler,
    read_map,
    read_structure,
    resample_to_voxel_size,
)


@dataclass
class ProjectionPairs:
    """Noisy and clean images (n, y, x) at ``pixel_size`` Å/pixel, RELION angles (n, 3) in degrees
    and defocus (n,) in Å (0 without CTF)."""

    noisy: ImageStack
    clean: ImageStack
    angles: np.ndarray
    defocus: np.ndarray


def centred_box(volume: Volume, size: int) -> np.ndarray:
    """(size³) centre crop / zero pad of a (z, y, x) volume; centre voxel n // 2 kept at size // 2."""
    out = np.zeros((size,) * 3, np.float32)
    src, dst = [], []
    for n in volume.shape:
        lo = n // 2 - size // 2
        s0, d0 = max(lo, 0), max(-lo, 0)
        m = min(n - s0, size - d0)
        src.append(slice(s0, s0 + m))
        dst.append(slice(d0, d0 + m))
    out[tuple(dst)] = volume.data[tuple(src)]
    return out


class ProjectionSimulator(Simulator):
    """Projections with CTF and noise.

    Args:
        image_size: box edge in pixels (images are image_size × image_size).
        pixel_size: Å/pixel of images (and of the volume they are projected from).
        resolution: Å, of the Gaussian map made from a structure.
        method: ``fourier`` (central slice, 2× oversampled) or ``real`` (trilinear line integrals).
        ctf: apply a CTF. defocus: (min, max) underfocus in Å, drawn uniformly per image.
        voltage: kV. cs: mm. amplitude_contrast: fraction. b_factor: Å² envelope.
        phase_flip: multiply by the CTF's sign only (phase-flipped particles).
        ctf_in_target: the clean image carries the CTF too (denoising, not CTF correction).
        sigma: noise standard deviation in projection units; or ``snr`` (variance ratio) instead.
    """

    input_kind = "structure"

    def __init__(self, image_size: int = 64, pixel_size: float = 1.5, resolution: float = 3.0,
                 method: Literal["fourier", "real"] = "fourier", ctf: bool = False,
                 defocus: tuple[float, float] = (10000.0, 25000.0), voltage: float = 300.0, cs: float = 2.7,
                 amplitude_contrast: float = 0.1, b_factor: float = 0.0, phase_flip: bool = False,
                 ctf_in_target: bool = True, sigma: float | None = None, snr: float | None = 0.1):
        if image_size < 8:
            raise EmganError(f"image_size must be >= 8 pixels, got {image_size}", "image_size")
        if not pixel_size > 0 or not resolution > 0:
            raise EmganError("pixel_size (Å/pixel) and resolution (Å) must be positive", "pixel_size")
        if method not in ("fourier", "real"):
            raise EmganError(f"method must be 'fourier' or 'real', got {method!r}", "method")
        if sigma is not None:
            snr = None  # an explicit sigma (0 included: noise-free) wins over the default snr
        if sigma is not None and sigma < 0 or snr is not None and not snr > 0:
            raise EmganError("sigma must be >= 0 and snr > 0", "sigma" if sigma is not None else "snr")
        lo, hi = (float(v) for v in defocus)
        if ctf and not 0 < lo <= hi:
            raise EmganError(f"defocus must be (min, max) underfocus in Å with 0 < min <= max, got {defocus}",
                             "defocus")
        self.image_size, self.pixel_size, self.resolution = int(image_size), float(pixel_size), float(resolution)
        self.method, self.ctf, self.defocus = method, bool(ctf), (lo, hi)
        self.voltage, self.cs, self.amplitude_contrast, self.b_factor = voltage, cs, amplitude_contrast, b_factor
        self.phase_flip, self.ctf_in_target = bool(phase_flip), bool(ctf_in_target)
        self.sigma, self.snr = sigma, snr

    def read_input(self, path):
        return read_structure(path) if is_structure_path(path) else read_map(path)

    def volume_for(self, source: Atoms | Volume) -> np.ndarray:
        """The (n, n, n) volume projected: a structure's Gaussian map or a map in the box."""
        n, a = self.image_size, self.pixel_size
        if isinstance(source, Atoms):
            centre = source.xyz.mean(0)
            origin = centre - (n // 2) * a
            grid = Volume(np.zeros((n, n, n), np.float32), voxel_size=a, origin=origin)
            # voxel means: point samples of atoms narrower than a pixel would alias in the projections
            sim = GaussianSimulator(self.resolution, a, convention="molmap", sampling="integral")
            return sim.simulate(source, grid=grid).data
        if not np.allclose(source.voxel_size, a, rtol=1e-3):
            source = resample_to_voxel_size(source, a)
        return centred_box(source, n)

    def project(self, volume: np.ndarray, angles: np.ndarray) -> np.ndarray:
        """Clean projections (m, n, n) of ``volume`` at RELION ``angles`` (m, 3), degrees."""
        if self.method == "real":
            return project_real(volume, angles, self.pixel_size)
        return FourierProjector(volume, self.pixel_size).project(angles)

    def ctf_image(self, defocus: float) -> np.ndarray:
        """The CTF (fft2 layout) at ``defocus`` Å with this simulator's optics."""
        n = self.image_size
        return ctf_2d((n, n), self.pixel_size, defocus, voltage=self.voltage, cs=self.cs,
                      amplitude_contrast=self.amplitude_contrast, b_factor=self.b_factor)

    def corrupt(self, clean: np.ndarray, rng: np.random.Generator, defocus: np.ndarray | None = None):
        """(noisy, target, defocus) from clean projections (m, n, n): CTF, then noise."""
        m = clean.shape[0]
        if self.ctf:
            if defocus is None:
                defocus = rng.uniform(*self.defocus, size=m)
            modulated = np.stack([apply_ctf(img, self.ctf_image(d), self.phase_flip)
                                  for img, d in zip(clean, defocus)])
        else:
            defocus, modulated = np.zeros(m), clean
        target = modulated if self.ctf_in_target else clean
        if self.snr is not None:
            sigma = np.sqrt(modulated.reshape(m, -1).var(1) / self.snr)
        else:
            sigma = np.full(m, float(self.sigma or 0.0))
        noisy = modulated + sigma[:, None, None] * rng.standard_normal(modulated.shape)
        return noisy.astype(np.float32), target.astype(np.float32), np.asarray(defocus, np.float64)

    def simulate(self, source, count: int = 16, angles: np.ndarray | None = None, seed: int = 0) -> ProjectionPairs:
        """``count`` (noisy, clean) pairs at random orientations (or at ``angles`` (m, 3), degrees)."""
        if angles is None and not int(count) >= 1:
            raise EmganError(f"must be at least 1 (particles to simulate), got {count}", "count")
        if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
            source = self.read_input(source)
        rng = np.random.default_rng(seed)
        angles = random_euler(int(count), rng) if angles is None else np.atleast_2d(np.asarray(angles, float))
        clean = self.project(self.volume_for(source), angles)
        noisy, target, defocus = self.corrupt(clean, rng)
        return ProjectionPairs(ImageStack(noisy, self.pixel_size), ImageStack(target, self.pixel_size),
                               angles, defocus)
