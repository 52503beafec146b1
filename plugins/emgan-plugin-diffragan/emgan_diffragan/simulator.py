"""``simulator/abtem-triplet``: diffraction pattern, high- and low-resolution image of one particle.

The physics is abTEM's (multislice, independent atom model, Lobato parametrisation, infinite
projection of each atom's potential within a slice): the protein (first chain by default, without
hydrogens unless asked) is rotated about its centre of mass by RELION Z-Y-Z angles (image frame
r' = A r, beam along z), centred in a periodic cubic cell (70 Å) and traversed by a plane wave
(200 keV) slice by slice. From the exit wave:

- **diffraction**: |FFT(exit wave)|² out to ``max_angle`` (20 mrad) with the zeroth order blocked,
  resampled (area average / bilinear) onto ``image_size``² pixels; units: fraction of the beam.
- **high**: the image intensity through a CTF at ``high_defocus`` (−50 Å), no other aberration.
- **low**: the image intensity through the microscope of the DiffraGAN authors' simulation: defocus
  ``low_defocus`` (−1000 Å), spherical aberration ``low_cs`` (−0.007 mm), partial coherence (focal
  spread ``focal_spread`` 10 Å, angular spread ``angular_spread`` 0.5 mrad, Gaussian blur
  ``gaussian_spread`` 2 Å), and the paper's envelope cutoff ``low_cutoff`` (5 mrad); then Poisson
  noise at a dose in e⁻/Å², stored as counts / (dose · pixel area) (beam units).

**Defocus convention** (abTEM's, which the authors' code passes its values to): ``defocus`` =
−C10, so the paper's −50 Å and −1000 Å are C10 = +50 Å and +1000 Å: **overfocus**. With the
authors' negative Cs this is the pairing that gives positive phase contrast at low frequency
(χ and hence the contrast have the opposite sign to positive-Cs underfocus): a weak phase object
(the protein) is brighter than the background in the low-pass filtered low-res image.

**Noise** is set, as in the paper, by the SNR in a resolution band (``low_snr`` 0.8 in
``snr_band`` 8–5 Å), with **one dose for a whole dataset**: :func:`band_snr` defines the measure,
:meth:`TripletSimulator.dose_from` finds the dose from the noise-free low-res images of a whole
set, and the dataset builder computes it once over all triplets of all structures of a build
before it adds the noise (``dose`` fixes it instead).

Images are Fourier-resized from the wave's grid onto ``image_size``² (the cell is periodic), so the
pixel size is cell / image_size Å. Arrays are (y, x) / (k_y, k_x) as everywhere in emgan (abTEM's
are (x, y)); the image of angles (rot, tilt, psi) is in the frame of the core's projections.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from emgan_core.api import Atoms, EmganError, Simulator, electron_wavelength, euler_matrix, fourier_resize

CHANNELS = ("diffraction", "low", "high")


@dataclass
class Triplets:
    """Triplets of (n, s, s) float32 arrays with their RELION angles (n, 3) in degrees, the low-res
    dose (n,) in e⁻/Å² (one value for the set), the noise-free low-res images, and the geometry: image pixel size (Å) and diffraction sampling (mrad)."""

    diffraction: np.ndarray
    low: np.ndarray
    high: np.ndarray
    angles: np.ndarray
    dose: np.ndarray
    pixel_size: float
    angular_sampling: float
    settings: dict = field(default_factory=dict)
    clean_low: np.ndarray | None = None  # (n, s, s) noise-free low-res images

    def __len__(self) -> int:
        return len(self.angles)

    @property
    def shape(self) -> tuple[int, ...]:
        """(3 channels, n, s, s)."""
        return (len(CHANNELS),) + self.high.shape


def _resize_pattern(pattern: np.ndarray, size: int) -> np.ndarray:
    """(m, m) → (size, size) intensities: area average when shrinking, bilinear when growing."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(pattern, dtype=np.float32))[None, None]
    if size < pattern.shape[-1]:
        out = F.adaptive_avg_pool2d(t, size)
    else:
        out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return out[0, 0].numpy()


def band_mask(shape: tuple[int, int], pixel_size: float, band: tuple[float, float]) -> np.ndarray:
    """Boolean (ny, nx) mask, ``np.fft.fft2`` layout, of the spatial frequencies |k| in
    [1/band[0], 1/band[1]] Å⁻¹ (``band`` = (coarse, fine) resolution in Å, e.g. (8, 5))."""
    ky = np.fft.fftfreq(shape[0], pixel_size)[:, None]
    kx = np.fft.fftfreq(shape[1], pixel_size)[None, :]
    k = np.sqrt(kx ** 2 + ky ** 2)
    return (k >= 1.0 / band[0]) & (k <= 1.0 / band[1])


def band_power(images: np.ndarray, pixel_size: float, band: tuple[float, float]) -> float:
    """Σ over images and over the band's Fourier coefficients of |FFT(image)|² (unnormalised
    ``np.fft.fft2``; the band excludes k = 0, so the mean does not enter)."""
    images = np.asarray(images, np.float64).reshape((-1,) + np.shape(images)[-2:])
    mask = band_mask(images.shape[-2:], pixel_size, band)
    return float(sum((np.abs(np.fft.fft2(img)) ** 2)[mask].sum() for img in images))


def band_snr(clean: np.ndarray, noisy: np.ndarray, pixel_size: float,
             band: tuple[float, float] = (8.0, 5.0)) -> float:
    """The SNR of noisy images in a resolution band, as the DiffraGAN paper sets its noise (≈ 0.8
    in the 8–5 Å bin).

    SNR_band = Σ_i Σ_{k∈A} |F[clean_i](k)|² / Σ_i Σ_{k∈A} |F[noisy_i − clean_i](k)|²: the signal
    power of the noise-free images over the noise power, both summed over the annulus
    A = {1/band[0] ≤ |k| ≤ 1/band[1]} Å⁻¹ (k from ``np.fft.fftfreq`` at ``pixel_size`` Å/pixel)
    and over the images (a ratio of sums, so one number for a set). (n, y, x) or (y, x) arrays in
    the same units.
    """
    clean = np.asarray(clean, np.float64)
    noise = band_power(np.asarray(noisy, np.float64) - clean, pixel_size, band)
    return band_power(clean, pixel_size, band) / max(noise, 1e-300)


class TripletSimulator(Simulator):
    """abTEM triplets (diffraction, noisy low-res image, high-res image) of one structure.

    Args:
        image_size: output pixels per side for all three (256 in the paper).
        cell: edge of the cubic cell, Å (70).
        sampling: real-space sampling of potential and waves, Å (0.1); abTEM keeps 2/3 of Nyquist,
            so ``max_angle`` needs sampling < λ / (3 · max_angle) (0.42 Å at 200 keV, 20 mrad).
        slice_thickness: multislice slice thickness, Å (1).
        energy: beam energy, keV (200).
        max_angle: outer edge of the diffraction pattern, mrad (20).
        high_defocus / low_defocus: Å, abTEM's sign (defocus = −C10; −50 / −1000 are overfocus).
        low_cs: spherical aberration of the low-res image, mm (−0.007, the authors' −7 µm).
        focal_spread: Å (10); angular_spread: mrad (0.5); gaussian_spread: Å (2): the low-res
            image's partial-coherence envelopes (temporal, spatial, Gaussian blur of the wave).
        low_cutoff: envelope (objective aperture) of the low-res image, mrad (5).
        low_snr: target SNR of the low-res image in ``snr_band`` (0.8; see :func:`band_snr`); the
            dose is one per dataset, found from its noise-free images (:meth:`dose_from`), or
        dose: e⁻/Å² for the low-res image (overrides ``low_snr``).
        snr_band: (coarse, fine) resolution limits of the band, Å ((8, 5)).
        chain: ``first`` (default), ``all`` or a chain ID.
        hydrogens: keep hydrogen atoms present in the file.
        pattern_electrons: electrons recorded in each diffraction pattern (the direct beam blocked):
            Poisson counts of that expected total, stored in the pattern's own units (same mean);
            None: noise-free patterns, as in the paper.
    """

    input_kind = "structure"

    def __init__(self, image_size: int = 256, cell: float = 70.0, sampling: float = 0.1,
                 slice_thickness: float = 1.0, energy: float = 200.0, max_angle: float = 20.0,
                 high_defocus: float = -50.0, low_defocus: float = -1000.0, low_cutoff: float = 5.0,
                 low_cs: float = -0.007, focal_spread: float = 10.0, angular_spread: float = 0.5,
                 gaussian_spread: float = 2.0, low_snr: float | None = 0.8, dose: float | None = None,
                 snr_band: tuple[float, float] = (8.0, 5.0), chain: str = "first",
                 hydrogens: bool = False, pattern_electrons: float | None = None):
        self.image_size, self.cell, self.sampling = int(image_size), float(cell), float(sampling)
        self.slice_thickness, self.energy = float(slice_thickness), float(energy)
        self.max_angle, self.low_cutoff = float(max_angle), float(low_cutoff)
        self.high_defocus, self.low_defocus = float(high_defocus), float(low_defocus)
        self.low_cs, self.focal_spread = float(low_cs), float(focal_spread)
        self.angular_spread, self.gaussian_spread = float(angular_spread), float(gaussian_spread)
        self.snr_band = tuple(float(b) for b in snr_band)
        self.low_snr = None if low_snr is None else float(low_snr)
        self.dose = None if dose is None else float(dose)
        self.chain, self.hydrogens = str(chain), bool(hydrogens)
        self.pattern_electrons = None if pattern_electrons is None else float(pattern_electrons)
        self._check()

    def _check(self) -> None:
        if self.image_size < 8:
            raise EmganError(f"image_size must be >= 8 pixels, got {self.image_size}", "image_size")
        for name in ("cell", "sampling", "slice_thickness", "energy", "max_angle", "low_cutoff"):
            if not getattr(self, name) > 0:
                raise EmganError(f"{name} must be positive, got {getattr(self, name)}", name)
        if self.dose is None and not (self.low_snr is not None and self.low_snr > 0):
            raise EmganError("give the low-res image a positive low_snr or a dose (e⁻/Å²)", "low_snr")
        for name in ("focal_spread", "angular_spread", "gaussian_spread"):
            if getattr(self, name) < 0:
                raise EmganError(f"{name} must be >= 0, got {getattr(self, name)}", name)
        if len(self.snr_band) != 2 or not self.snr_band[0] > self.snr_band[1] > 0:
            raise EmganError(f"snr_band is (coarse, fine) resolution in Å with coarse > fine > 0, got "
                             f"{self.snr_band}", "snr_band")
        if self.dose is None and self.snr_band[1] < 2.0 * self.pixel_size:
            raise EmganError(f"snr_band reaches {self.snr_band[1]:g} Å, beyond the images' Nyquist "
                             f"{2 * self.pixel_size:.2f} Å", "snr_band")
        if self.dose is not None and not self.dose > 0:
            raise EmganError(f"dose must be positive (e⁻/Å²), got {self.dose}", "dose")
        if self.pattern_electrons is not None and not self.pattern_electrons > 0:
            raise EmganError(f"pattern_electrons must be positive, got {self.pattern_electrons}", "pattern_electrons")
        limit = 1000.0 * self.wavelength / (3.0 * self.sampling)  # abTEM's antialias cutoff, mrad
        if self.max_angle > limit:
            raise EmganError(f"max_angle {self.max_angle} mrad is beyond the {limit:.1f} mrad that sampling "
                             f"{self.sampling} Å resolves; use sampling <= "
                             f"{1000 * self.wavelength / (3 * self.max_angle):.3f} Å", "max_angle")
        if self.cell / self.sampling > 4096:
            raise EmganError(f"cell / sampling = {self.cell / self.sampling:.0f} grid points per side is too "
                             "many; coarsen the sampling", "sampling")

    @property
    def wavelength(self) -> float:
        """Electron wavelength, Å."""
        return electron_wavelength(self.energy)

    @property
    def pixel_size(self) -> float:
        """Å/pixel of the output images."""
        return self.cell / self.image_size

    def settings(self) -> dict:
        keys = ("image_size", "cell", "sampling", "slice_thickness", "energy", "max_angle", "high_defocus",
                "low_defocus", "low_cutoff", "low_cs", "focal_spread", "angular_spread", "gaussian_spread",
                "low_snr", "dose", "snr_band", "chain", "hydrogens")
        out = {k: getattr(self, k) for k in keys}
        out["snr_band"] = list(self.snr_band)
        if self.pattern_electrons is not None:  # absent when off: stores built without it keep their key
            out["pattern_electrons"] = self.pattern_electrons
        return out

    # -- structure -------------------------------------------------------------------------------

    def prepare(self, atoms: Atoms) -> Atoms:
        """The atoms simulated: chain selection, hydrogens, centred on the centre of mass; checked to
        fit in the cell in every orientation."""
        if not self.hydrogens:
            atoms = atoms.subset(atoms.atomic_number > 1)
        if self.chain == "first":
            atoms = atoms.subset(atoms.chain == atoms.chain[0]) if len(atoms) else atoms
        elif self.chain != "all":
            atoms = atoms.subset(atoms.chain == self.chain)
        if len(atoms) == 0:
            raise EmganError(f"no atoms left after selecting chain {self.chain!r}", atoms.source or "structure")
        atoms = atoms.subset(np.ones(len(atoms), bool))
        atoms.xyz = atoms.xyz - atoms.centre_of_mass()
        diameter = 2.0 * float(np.linalg.norm(atoms.xyz, axis=1).max())
        if diameter >= self.cell:
            raise EmganError(f"the molecule spans {diameter:.1f} Å about its centre of mass, more than the "
                             f"{self.cell:g} Å cell: raise cell or pick one chain", atoms.source or "structure")
        return atoms

    # -- physics ---------------------------------------------------------------------------------

    def _exit_wave(self, atoms: Atoms, angles):
        import abtem
        import ase

        abtem.config.set({"device": "cpu", "local_diagnostics.progress_bar": False})
        rotated = atoms.xyz @ euler_matrix(*angles).T + self.cell / 2.0
        cell = ase.Atoms(numbers=atoms.atomic_number, positions=rotated, cell=[self.cell] * 3, pbc=True)
        potential = abtem.Potential(cell, sampling=self.sampling, slice_thickness=self.slice_thickness,
                                    parametrization="lobato", projection="infinite")
        return abtem.PlaneWave(energy=self.energy * 1e3).multislice(potential, lazy=False)

    def _image(self, exit_wave, defocus: float, low: bool) -> np.ndarray:
        """Intensity of ``exit_wave`` through the high-res CTF (defocus only) or, with ``low``, the
        low-res microscope (Cs, envelopes, cutoff), Fourier-resized to (image_size, image_size)."""
        import abtem

        if low:
            ctf = abtem.CTF(semiangle_cutoff=self.low_cutoff, focal_spread=self.focal_spread,
                            angular_spread=self.angular_spread, energy=self.energy * 1e3,
                            defocus=defocus, Cs=self.low_cs * 1e7)
        else:
            ctf = abtem.CTF(energy=self.energy * 1e3, defocus=defocus)
        wave = exit_wave.apply_ctf(ctf)
        if wave.is_lazy:
            wave = wave.compute(scheduler="synchronous")
        psi = np.asarray(wave.array, np.complex128)
        if low and self.gaussian_spread > 0:
            # Gaussian blur of the wave (source/vibration spread): exp(−σ² |k|² / 2) on its spectrum
            kx = np.fft.fftfreq(psi.shape[0], float(wave.sampling[0]))[:, None]
            ky = np.fft.fftfreq(psi.shape[1], float(wave.sampling[1]))[None, :]
            psi = np.fft.ifft2(np.fft.fft2(psi) * np.exp(-0.5 * self.gaussian_spread ** 2 * (kx ** 2 + ky ** 2)))
        return fourier_resize((np.abs(psi) ** 2).T, self.image_size)  # abTEM's (x, y) → (y, x)

    def clean_low(self, atoms: Atoms, angles) -> np.ndarray:
        """The noise-free low-res image (s, s) of prepared ``atoms`` at RELION ``angles``."""
        return self._image(self._exit_wave(atoms, angles), self.low_defocus, True)

    def band_sums(self, clean: np.ndarray) -> np.ndarray:
        """[signal power in the SNR band, Σ intensity, number of images] of noise-free low-res
        images (n, s, s): summable over parts of a dataset, for :meth:`dose_from`."""
        clean = np.asarray(clean, np.float64).reshape((-1,) + np.shape(clean)[-2:])
        return np.array([band_power(clean, self.pixel_size, self.snr_band), float(np.clip(clean, 0, None).sum()),
                         float(len(clean))])

    def dose_from(self, sums) -> float:
        """The dose (e⁻/Å²) at which Poisson noise gives the images summed in ``sums``
        (:meth:`band_sums`) the band SNR ``low_snr`` (:func:`band_snr`, a ratio of sums over the set).

        Noise of counts ~ Poisson(I · D · a) stored as counts / (D · a) (a: pixel area, Å²) is
        white with per-pixel variance I / (D · a), so each Fourier coefficient carries on average
        Σ_pixels I / (D · a); over the N_A coefficients of the band: SNR = D · a · S_A / (N_A Σ I),
        with S_A the band's signal power, hence D = snr · N_A · Σ I / (a · S_A).
        """
        if self.dose is not None:
            return self.dose
        signal, total, _ = (float(v) for v in sums)
        count = int(band_mask((self.image_size, self.image_size), self.pixel_size, self.snr_band).sum())
        if not signal > 0:
            raise EmganError("the noise-free low-res images carry no signal in the SNR band", "snr_band")
        return self.low_snr * count * total / (self.pixel_size ** 2 * signal)

    def dose_for(self, clean: np.ndarray) -> float:
        """:meth:`dose_from` for one set of noise-free low-res images (n, s, s) or one image."""
        return self.dose_from(self.band_sums(clean))

    def with_dose(self, dose: float) -> "TripletSimulator":
        """A copy of this simulator with the low-res dose fixed (e⁻/Å²)."""
        return TripletSimulator(**{**self.settings(), "dose": float(dose)})

    def simulate_clean(self, atoms: Atoms, angles) -> dict:
        """The noise-free part of one triplet of prepared ``atoms`` at RELION ``angles`` (degrees):
        (s, s) arrays ``diffraction``, ``high``, ``clean_low`` and the diffraction
        ``angular_sampling`` (mrad/pixel)."""
        wave = self._exit_wave(atoms, angles)
        patterns = wave.diffraction_patterns(max_angle=self.max_angle, block_direct=True)
        if patterns.is_lazy:
            patterns = patterns.compute(scheduler="synchronous")
        pattern = np.asarray(patterns.array, dtype=np.float64).T  # (kx, ky) → (ky, kx)
        extent = pattern.shape[-1] * float(patterns.angular_sampling[0])  # mrad
        return {"diffraction": _resize_pattern(pattern, self.image_size),
                "high": self._image(wave, self.high_defocus, False),
                "clean_low": self._image(wave, self.low_defocus, True),
                "angular_sampling": extent / self.image_size}

    def add_noise(self, clean: np.ndarray, dose: float, rng: np.random.Generator) -> np.ndarray:
        """Poisson counts of a noise-free low-res image (s, s) at ``dose`` e⁻/Å², as
        counts / (dose · pixel area) (beam units, same mean as ``clean``)."""
        # inverse-CDF Poisson draws, one uniform per pixel: a rounding-level change of the clean image
        # cannot shift the random stream (as rejection sampling would), so noise is reproducible
        # (normal approximation above 10⁶ counts, where the Poisson inverse CDF loses precision)
        from scipy.special import ndtri
        from scipy.stats import poisson

        area = self.pixel_size ** 2
        u = rng.random(np.shape(clean))
        lam = np.clip(np.asarray(clean, np.float64), 0, None) * dose * area
        big = lam > 1e6
        counts = np.where(big, lam + np.sqrt(lam) * ndtri(u), poisson.ppf(u, np.where(big, 1.0, lam)))
        return counts / (dose * area)

    def count_pattern(self, pattern: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Poisson counts of a noise-free pattern (s, s) holding ``pattern_electrons`` on average in
        all, in the pattern's units (counts × total intensity / electrons: the same mean)."""
        from scipy.stats import poisson

        intensity = np.clip(np.asarray(pattern, np.float64), 0, None)
        total = float(intensity.sum())
        if not total > 0:
            return intensity
        lam = intensity * (self.pattern_electrons / total)
        counts = poisson.ppf(rng.random(intensity.shape), lam)  # inverse CDF: one uniform per pixel
        return counts * (total / self.pattern_electrons)

    def recorded_pattern(self, pattern: np.ndarray, seed: int, index: int) -> np.ndarray:
        """The pattern as recorded: Poisson counts of ``pattern_electrons`` (:meth:`count_pattern`,
        seeded by (``seed``, ``index``, 1): one draw per triplet, wherever it is simulated), or the
        noise-free pattern when ``pattern_electrons`` is not set."""
        if self.pattern_electrons is None:
            return pattern
        return self.count_pattern(pattern, np.random.default_rng([seed, index, 1])).astype(np.float32)

    def simulate_one(self, atoms: Atoms, angles, rng: np.random.Generator, dose: float | None = None) -> dict:
        """One triplet: :meth:`simulate_clean` plus the noisy ``low`` at ``dose`` (e⁻/Å²; given,
        else this simulator's ``dose``, else calibrated on this one image) and that ``dose``."""
        out = self.simulate_clean(atoms, angles)
        if dose is None:
            dose = self.dose if self.dose is not None else self.dose_for(out["clean_low"])
        out["low"], out["dose"] = self.add_noise(out["clean_low"], dose, rng), float(dose)
        if self.pattern_electrons is not None:
            out["diffraction"] = self.count_pattern(out["diffraction"], rng)
        return out

    def simulate(self, source, angles=None, count: int = 1, seed: int = 0) -> Triplets:
        """Triplets of a structure (:class:`Atoms` or a path) at ``angles`` (n, 3) RELION degrees, or
        at ``count`` uniformly random orientations; one dose for all (``dose``, or the one that gives
        these noise-free images the band SNR ``low_snr``); noise seeded by (seed, index)."""
        from emgan_core.api import random_euler

        atoms = self.prepare(self.read_input(source) if not isinstance(source, Atoms) else source)
        angles = random_euler(count, np.random.default_rng([seed, 11])) if angles is None else \
            np.asarray(angles, np.float64).reshape(-1, 3)
        parts = [self.simulate_clean(atoms, a) for a in angles]
        dose = self.dose_for(np.stack([p["clean_low"] for p in parts]))
        for i, p in enumerate(parts):
            p["low"] = self.add_noise(p["clean_low"], dose, np.random.default_rng([seed, i]))
            p["diffraction"] = self.recorded_pattern(p["diffraction"], seed, i)
        stack = {k: np.stack([p[k] for p in parts]).astype(np.float32) for k in CHANNELS}
        return Triplets(**stack, angles=angles, dose=np.full(len(parts), dose),
                        pixel_size=self.pixel_size, angular_sampling=parts[0]["angular_sampling"],
                        settings={**self.settings(), "dose": dose},
                        clean_low=np.stack([p["clean_low"] for p in parts]).astype(np.float32))

    def write_output(self, result: Triplets, path) -> list:
        """Write the three channels as .mrcs stacks ``NAME_diffraction.mrcs``, ``NAME_low.mrcs`` and
        ``NAME_high.mrcs`` beside ``path`` (images at their pixel size; the pattern's header pixel
        size is its mrad/pixel). Each is written atomically; all are checked writable first."""
        from pathlib import Path

        from emgan_core.api import ImageStack, check_output, write_image_stack

        path = Path(path)
        stem = path.name[: len(path.name) - len("".join(path.suffixes))] if path.suffixes else path.name
        paths = {c: path.with_name(f"{stem}_{c}.mrcs") for c in CHANNELS}
        for p in paths.values():
            check_output(p)
        for c, p in paths.items():
            spacing = result.angular_sampling if c == "diffraction" else result.pixel_size
            write_image_stack(p, ImageStack(getattr(result, c), spacing))
        return list(paths.values())

    def read_input(self, path):
        from emgan_core.api import read_structure

        return read_structure(path, hydrogens=self.hydrogens)
