"""Contrast transfer function of a transmission electron microscope (weak-phase approximation).

RELION's convention: ``CTF(k) = sin(χ(k) + φ_A + φ_s)·exp(−B k²/4)`` with
``χ(k) = π λ Δf(θ) k² − (π/2) Cs λ³ k⁴``, ``φ_A = arctan(A / √(1 − A²))`` for amplitude contrast
``A`` and an optional phase shift ``φ_s``. Defocus Δf is positive for underfocus (Å); with
astigmatism ``Δf(θ) = (Δf_u + Δf_v)/2 + (Δf_u − Δf_v)/2 · cos 2(θ − θ_ast)``. At k = 0 the CTF is
+A, so white-on-black (positive) densities stay positive at low frequency.
"""

from __future__ import annotations

import numpy as np

from ..errors import EmganError


def electron_wavelength(voltage_kv: float) -> float:
    """Relativistic electron wavelength in Å at an accelerating voltage in kV (0.0251 Å at 200 kV)."""
    if not voltage_kv > 0:
        raise EmganError(f"voltage must be positive, got {voltage_kv} kV", "voltage")
    v = voltage_kv * 1e3
    return 12.2642598 / np.sqrt(v * (1.0 + 0.978475e-6 * v))


def ctf_2d(shape: tuple[int, int], pixel_size: float, defocus_u: float, defocus_v: float | None = None,
           astigmatism_angle: float = 0.0, voltage: float = 300.0, cs: float = 2.7,
           amplitude_contrast: float = 0.1, b_factor: float = 0.0, phase_shift: float = 0.0) -> np.ndarray:
    """CTF on the (ny, nx) grid of ``np.fft.fft2`` (unshifted), float64.

    Args:
        pixel_size: Å/pixel. defocus_u, defocus_v: Å, positive underfocus (v defaults to u).
        astigmatism_angle: degrees, of the u axis from x. voltage: kV. cs: spherical aberration, mm.
        amplitude_contrast: fraction (0.07–0.1 for cryo-EM). b_factor: envelope B in Å².
        phase_shift: degrees (phase plate).
    """
    if not 0.0 <= amplitude_contrast < 1.0:
        raise EmganError(f"amplitude contrast must be in [0, 1), got {amplitude_contrast}", "amplitude_contrast")
    lam = electron_wavelength(voltage)
    ny, nx = shape
    ky = np.fft.fftfreq(ny, pixel_size)[:, None]
    kx = np.fft.fftfreq(nx, pixel_size)[None, :]
    k2 = kx ** 2 + ky ** 2
    du = float(defocus_u)
    dv = du if defocus_v is None else float(defocus_v)
    theta = np.arctan2(ky, kx)
    defocus = 0.5 * (du + dv) + 0.5 * (du - dv) * np.cos(2.0 * (theta - np.deg2rad(astigmatism_angle)))
    chi = np.pi * lam * defocus * k2 - 0.5 * np.pi * (cs * 1e7) * lam ** 3 * k2 ** 2
    phase = np.arctan2(amplitude_contrast, np.sqrt(1.0 - amplitude_contrast ** 2)) + np.deg2rad(phase_shift)
    ctf = np.sin(chi + phase)
    if b_factor:
        ctf = ctf * np.exp(-b_factor * k2 / 4.0)
    return ctf


def apply_ctf(images: np.ndarray, ctf: np.ndarray, phase_flip: bool = False) -> np.ndarray:
    """Multiply (…, y, x) images by ``ctf`` in Fourier space (``phase_flip``: by its sign only)."""
    f = np.sign(ctf) if phase_flip else ctf
    return np.fft.ifft2(np.fft.fft2(np.asarray(images, dtype=np.float64)) * f).real.astype(np.float32)
