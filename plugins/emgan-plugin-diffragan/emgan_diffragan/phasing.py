"""Classical phase extension of a DiffraGAN triplet: the pattern's amplitudes, the low-res image's
phases, a support and positivity in real space (Fienup's hybrid input-output, then error reduction).

Physics (weak phase object). The exit wave is ψ = exp(iφ) with φ = σ·V the projected potential
(real, ≥ 0, confined to the molecule). For k ≠ 0, FFT(ψ)(k) ≈ i·Φ(k), so the pattern |FFT ψ|² gives
|Φ(k)| on the cell's reciprocal lattice (1/cell Å⁻¹, the images' Fourier grid), noise-free in the
simulation, but not its phase. An image through a CTF is, to first order, 1 + 2·E(k)·sin χ(k)·Φ(k)
in Fourier space: at the DiffraGAN defoci χ does not change sign inside the bands used (the low-res
image's first zero is at 5 Å, exactly its 5 mrad aperture; the high-res image's is beyond Nyquist at
64² / 1.09 Å), so the low-res image's Fourier phases are Φ's phases inside its band, and the
high-res image is Φ filtered by a real, one-signed radial filter: Fourier ring correlation
against it scores φ's phases directly.

The pattern is stored resampled (bilinear) onto ``image_size``² pixels of ``pattern_k`` Å⁻¹ from
abTEM's odd-sized grid of 1/cell Å⁻¹; :func:`pattern_amplitudes` undoes that resampling exactly (a
least-squares inverse of the bilinear map, which is injective when it enlarges) and puts the
amplitudes on the images' FFT grid, with a mask of the coefficients the pattern covers (k = 0, the
blocked direct beam, is not among them).

A molecule of diameter D in a cell of edge L is oversampled L / D times per axis by the pattern;
phasing a real object needs more than √2 (area ratio of cell to support > 2): in the quickstart's
70 Å cell the held-out 1ORC's support (2 Å margin) is 17 % of the cell, 2.4× per axis.
"""

from __future__ import annotations

import numpy as np


def _bilinear_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) matrix of torch's 1-D linear interpolation (align_corners=False)."""
    out = np.zeros((size_out, size_in))
    for j in range(size_out):
        x = min(max((j + 0.5) * size_in / size_out - 0.5, 0.0), size_in - 1)
        i0 = int(np.floor(x))
        i1 = min(i0 + 1, size_in - 1)
        w = x - i0
        out[j, i0] += 1 - w
        out[j, i1] += w
    return out


def native_size(pattern_k: float, pixel_size: float, size: int) -> int:
    """Pixels per side of abTEM's pattern before resampling: its grid is 1/cell Å⁻¹ (cell = size ·
    pixel_size), and the stored ``size`` pixels of ``pattern_k`` Å⁻¹ span the same extent."""
    return int(round(size * pattern_k * size * pixel_size))


def pattern_amplitudes(diffraction: np.ndarray, pattern_k: float, pixel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """(amplitudes (n, s, s), known (s, s) bool), both in ``np.fft.fft2`` layout on the images'
    Fourier grid (``pixel_size`` Å, s pixels), from stored patterns (n, s, s) of ``pattern_k`` Å⁻¹
    per pixel. Amplitudes are √I on the coefficients the pattern covers (``known``), 0 elsewhere."""
    d = np.asarray(diffraction, np.float64)
    if d.ndim == 2:
        d = d[None]
    s = d.shape[-1]
    m = native_size(pattern_k, pixel_size, s)
    if m <= s:  # stored pattern = B P Bᵀ with B (s, m) bilinear: P = B⁺ stored B⁺ᵀ
        inv = np.linalg.pinv(_bilinear_matrix(m, s))
        native = np.einsum("ij,njk,lk->nil", inv, d, inv)
        step = 1.0  # native pixels per image Fourier step
    else:  # a shrunk (area-averaged) pattern: read it at the Fourier grid, bilinear
        native, m = d, s
        step = 1.0 / (pattern_k * s * pixel_size)
    centre = (m - 1) / 2.0
    index = np.fft.fftfreq(s, 1.0 / s)  # integer Fourier indices in fft layout
    coord = centre + index * step
    inside = (coord >= 0) & (coord <= m - 1)
    known = inside[:, None] & inside[None, :]
    known[0, 0] = False
    c = np.clip(coord, 0, m - 1)
    i0 = np.floor(c).astype(int)
    i1 = np.minimum(i0 + 1, m - 1)
    w = c - i0
    rows = native[:, i0, :] * (1 - w)[None, :, None] + native[:, i1, :] * w[None, :, None]
    grid = rows[:, :, i0] * (1 - w)[None, None, :] + rows[:, :, i1] * w[None, None, :]
    amplitude = np.sqrt(np.clip(grid, 0, None)) * known
    return amplitude, known


def radius(size: int, pixel_size: float) -> np.ndarray:
    """|k| (Å⁻¹) of the (size, size) FFT grid at ``pixel_size`` Å."""
    f = np.fft.fftfreq(size, pixel_size)
    return np.hypot(f[:, None], f[None, :])


def lowpass(images: np.ndarray, pixel_size: float, resolution: float) -> np.ndarray:
    """Gaussian low-pass of (n, y, x) images minus their mean, 1/e at 1/``resolution`` Å⁻¹."""
    k = radius(images.shape[-1], pixel_size)
    f = np.fft.fft2(images - images.mean((-2, -1), keepdims=True))
    return np.fft.ifft2(f * np.exp(-(k * resolution) ** 2)).real


def support_from_low(low: np.ndarray, pixel_size: float, resolution: float = 8.0, fraction: float = 0.15,
                     grow: float = 2.0) -> np.ndarray:
    """(n, y, x) bool supports from low-res images (protein brighter than the background, as at
    the DiffraGAN defocus): the low-pass (:func:`lowpass` at ``resolution`` Å) above ``fraction``
    of its range over its median, grown by ``grow`` Å."""
    low = np.asarray(low, np.float64)
    if low.ndim == 2:
        low = low[None]
    smooth = lowpass(low, pixel_size, resolution)
    out = np.empty(low.shape, bool)
    # a disc of radius ``grow`` Å, dilated by circular convolution (the cell is periodic)
    size = low.shape[-1]
    f = np.fft.fftfreq(size, 1.0 / size) * pixel_size
    disc = np.fft.fft2((np.hypot(f[:, None], f[None, :]) <= grow).astype(np.float64))
    for i, s in enumerate(smooth):
        base = np.median(s)
        mask = s > base + fraction * (s.max() - base)
        out[i] = np.fft.ifft2(np.fft.fft2(mask.astype(np.float64)) * disc).real > 0.5
    return out


def phase_extend(amplitude: np.ndarray, known: np.ndarray, low: np.ndarray, pixel_size: float,
                 support: np.ndarray | None = None, fixed_resolution: float = 8.0, iterations: int = 300,
                 er_iterations: int = 50, beta: float = 0.9, positive: bool = True,
                 shrinkwrap_every: int = 0, shrinkwrap_threshold: float = 0.15,
                 shrinkwrap_blur: tuple[float, float] = (3.0, 1.5)) -> np.ndarray:
    """Projected potentials (n, y, x) (up to scale and offset) phased from pattern amplitudes.

    Starts from the low-res images' Fourier phases with the pattern's amplitudes; each iteration
    sets the amplitude of every ``known`` coefficient to the pattern's, and the phase of those
    coarser than ``fixed_resolution`` Å to the low-res image's (the rest keep the current phase;
    k = 0 and uncovered coefficients stay free); in real space, hybrid input-output (``beta``) on
    the ``support`` (default :func:`support_from_low`) and positivity, ``iterations`` times, then
    ``er_iterations`` of error reduction. ``fixed_resolution`` 0 fixes no phase (pure HIO from the
    low-res start).
    """
    amplitude = np.asarray(amplitude, np.float64)
    low = np.asarray(low, np.float64)
    if low.ndim == 2:
        low, amplitude = low[None], amplitude[None]
    if support is None:
        support = support_from_low(low, pixel_size)
    k = radius(low.shape[-1], pixel_size)
    fixed = known & (k < (1.0 / fixed_resolution if fixed_resolution > 0 else 0.0))
    low_phase = np.exp(1j * np.angle(np.fft.fft2(low - low.mean((-2, -1), keepdims=True))))

    def project(g: np.ndarray) -> np.ndarray:
        f = np.fft.fft2(g)
        phase = np.exp(1j * np.angle(f))
        phase = np.where(fixed, low_phase, phase)
        f = np.where(known, amplitude * phase, f)
        return np.fft.ifft2(f).real

    g = np.fft.ifft2(np.where(known, amplitude * low_phase, 0)).real
    floor = np.where(support, g, np.inf).min((-2, -1), keepdims=True)
    g = np.where(support, g - floor, 0.0)  # k = 0 is free: start positive on the support
    blur = radius(low.shape[-1], pixel_size) ** 2
    for it in range(iterations + er_iterations):
        p = project(g)
        if shrinkwrap_every and it and it < iterations and it % shrinkwrap_every == 0:
            # shrink-wrap: the support follows the current estimate (the projection on the support,
            # positive part), blurred (Gaussian, σ from shrinkwrap_blur[0] down to [1] Å) and
            # thresholded at a fraction of its maximum
            sigma = shrinkwrap_blur[0] + (shrinkwrap_blur[1] - shrinkwrap_blur[0]) * it / iterations
            current = np.where(support, np.clip(p, 0, None), 0.0)
            smooth = np.fft.ifft2(np.fft.fft2(current) * np.exp(-2 * np.pi ** 2 * sigma ** 2 * blur)).real
            support = smooth > shrinkwrap_threshold * smooth.max((-2, -1), keepdims=True)
        ok = support & (p >= 0) if positive else support
        if it < iterations:
            g = np.where(ok, p, g - beta * p)
        else:
            g = np.where(ok, p, 0.0)
    return g


def band_frc(images: np.ndarray, truth: np.ndarray, pixel_size: float, band: tuple[float, float] = (5.0, 3.5)
             ) -> float:
    """Mean over images and over the Fourier rings in ``band`` (coarse, fine Å) of the FRC (the
    core's rings: one 1/(size · pixel_size) step wide)."""
    from emgan_core.api import shell_correlation

    images, truth = np.asarray(images, np.float64), np.asarray(truth, np.float64)
    if images.ndim == 2:
        images, truth = images[None], truth[None]
    curves = [shell_correlation(a, b, np.array([pixel_size, pixel_size])) for a, b in zip(images, truth)]
    freqs = curves[0][0]
    curve = np.mean([c for _, c in curves], axis=0)
    sel = (freqs >= 1.0 / band[0] - 1e-9) & (freqs <= 1.0 / band[1] + 1e-9)
    return float(curve[sel].mean())


def align_to(images: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each of (n, y, x) ``images`` or its twin (the point reflection φ(−r), which has the same
    pattern), cyclically shifted to its best cross-correlation with ``reference`` (n, y, x): the two
    ambiguities phase retrieval leaves, resolved with what the triplet itself holds (the low-res
    image), never with the truth."""
    images, reference = np.asarray(images, np.float64), np.asarray(reference, np.float64)
    ref = np.fft.fft2(reference - reference.mean((-2, -1), keepdims=True))
    twins = np.roll(np.flip(images, (-2, -1)), 1, axis=(-2, -1))
    out = np.empty_like(images)
    for i in range(len(images)):
        best = None
        for x in (images[i], twins[i]):
            cc = np.fft.ifft2(ref[i] * np.conj(np.fft.fft2(x - x.mean()))).real
            j = np.unravel_index(int(np.argmax(cc)), cc.shape)
            if best is None or cc[j] > best[0]:
                best = (cc[j], np.roll(x, j, axis=(0, 1)))
        out[i] = best[1]
    return out


# the settings measured on the quickstart's held-out 1ORC (README "Measured")
DEFAULTS = dict(fixed_resolution=0.0, iterations=400, er_iterations=50, beta=0.9, shrinkwrap_every=20,
                shrinkwrap_threshold=0.1, shrinkwrap_blur=(3.0, 1.5))


def phase_triplets(diffraction: np.ndarray, low: np.ndarray, pattern_k: float, pixel_size: float,
                   align_resolution: float = 8.0, **settings) -> np.ndarray:
    """Projected potentials (n, y, x) of triplets phased from their patterns (stored form, any
    positive scale) and noisy low-res images: :func:`pattern_amplitudes`, :func:`phase_extend`
    (``DEFAULTS`` updated by ``settings``: shrink-wrapped support from the low-res image, hybrid
    input-output from its phases) and :func:`align_to` the low-res image low-passed at
    ``align_resolution`` Å."""
    low = np.asarray(low, np.float64)
    if low.ndim == 2:
        low, diffraction = low[None], np.asarray(diffraction)[None]
    amplitude, known = pattern_amplitudes(diffraction, pattern_k, pixel_size)
    g = phase_extend(amplitude, known, low, pixel_size, **{**DEFAULTS, **settings})
    return align_to(g, lowpass(low, pixel_size, align_resolution))
