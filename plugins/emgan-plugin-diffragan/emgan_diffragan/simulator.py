"""``simulator/abtem-triplet``: diffraction pattern, high- and low-resolution image of one particle.

The physics is abTEM's (multislice, independent atom model, Lobato parametrisation, infinite
projection of each atom's potential within a slice): the protein (first chain by default, without
hydrogens unless asked) is rotated about its centre of mass by RELION Z-Y-Z angles (image frame
r' = A r, beam along z), centred in a periodic cubic cell (70 Å) and traversed by a plane wave
(200 keV) slice by slice. From the exit wave:

- **diffraction**: |FFT(exit wave)|² out to ``max_angle`` (20 mrad) with the zeroth order blocked,
  resampled (area average / bilinear) onto ``image_size``² pixels; units: fraction of the beam.
- **high**: the image intensity through a CTF at ``high_defocus`` (−50 Å).
- **low**: the image intensity through a CTF at ``low_defocus`` (−1000 Å) with a sharp envelope at
  ``low_cutoff`` (5 mrad), then Poisson noise: ``dose`` e⁻/Å², or the dose at which
  var(clean image) / var(noise) = ``low_snr`` on the output pixels,
  dose = snr · mean(I) / (var(I) · pixel area); stored as counts / (dose · pixel area).

Images are Fourier-resized from the wave's grid onto ``image_size``² (the cell is periodic), so the
pixel size is cell / image_size Å. Arrays are (y, x) / (k_y, k_x) as everywhere in emgan (abTEM's
are (x, y)); the image of angles (rot, tilt, psi) is in the frame of the core's projections. Defocus follows abTEM: defocus = −C10, positive is underfocus.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from emgan_core.errors import EmganError
from emgan_core.interfaces import Simulator
from emgan_core.io.structures import Atoms
from emgan_core.simulators import electron_wavelength, euler_matrix
from emgan_core.transforms import fourier_resize

CHANNELS = ("diffraction", "low", "high")


@dataclass
class Triplets:
    """Triplets of (n, s, s) float32 arrays with their RELION angles (n, 3) in degrees, the low-res
    dose (n,) in e⁻/Å², and the geometry: image pixel size (Å) and diffraction sampling (mrad)."""

    diffraction: np.ndarray
    low: np.ndarray
    high: np.ndarray
    angles: np.ndarray
    dose: np.ndarray
    pixel_size: float
    angular_sampling: float
    settings: dict = field(default_factory=dict)

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
        high_defocus / low_defocus: Å, abTEM's sign (−50 / −1000).
        low_cutoff: envelope (objective aperture) of the low-res image, mrad (5).
        low_snr: target signal-to-noise variance ratio of the low-res image (0.5); or
        dose: e⁻/Å² for the low-res image (overrides ``low_snr``).
        chain: ``first`` (default), ``all`` or a chain ID.
        hydrogens: keep hydrogen atoms present in the file.
    """

    input_kind = "structure"

    def __init__(self, image_size: int = 256, cell: float = 70.0, sampling: float = 0.1,
                 slice_thickness: float = 1.0, energy: float = 200.0, max_angle: float = 20.0,
                 high_defocus: float = -50.0, low_defocus: float = -1000.0, low_cutoff: float = 5.0,
                 low_snr: float | None = 0.5, dose: float | None = None, chain: str = "first",
                 hydrogens: bool = False):
        self.image_size, self.cell, self.sampling = int(image_size), float(cell), float(sampling)
        self.slice_thickness, self.energy = float(slice_thickness), float(energy)
        self.max_angle, self.low_cutoff = float(max_angle), float(low_cutoff)
        self.high_defocus, self.low_defocus = float(high_defocus), float(low_defocus)
        self.low_snr = None if low_snr is None else float(low_snr)
        self.dose = None if dose is None else float(dose)
        self.chain, self.hydrogens = str(chain), bool(hydrogens)
        self._check()

    def _check(self) -> None:
        if self.image_size < 8:
            raise EmganError(f"image_size must be >= 8 pixels, got {self.image_size}", "image_size")
        for name in ("cell", "sampling", "slice_thickness", "energy", "max_angle", "low_cutoff"):
            if not getattr(self, name) > 0:
                raise EmganError(f"{name} must be positive, got {getattr(self, name)}", name)
        if self.dose is None and not (self.low_snr is not None and self.low_snr > 0):
            raise EmganError("give the low-res image a positive low_snr or a dose (e⁻/Å²)", "low_snr")
        if self.dose is not None and not self.dose > 0:
            raise EmganError(f"dose must be positive (e⁻/Å²), got {self.dose}", "dose")
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
                "low_defocus", "low_cutoff", "low_snr", "dose", "chain", "hydrogens")
        return {k: getattr(self, k) for k in keys}

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

    def _image(self, exit_wave, defocus: float, cutoff: float | None) -> np.ndarray:
        kwargs = {"defocus": defocus}
        if cutoff is not None:
            kwargs["semiangle_cutoff"] = cutoff
        intensity = exit_wave.apply_ctf(**kwargs).intensity()
        array = intensity.compute(scheduler="synchronous").array if intensity.is_lazy else intensity.array
        return fourier_resize(np.asarray(array).T, self.image_size)  # abTEM's (x, y) → (y, x)

    def simulate_one(self, atoms: Atoms, angles, rng: np.random.Generator) -> dict:
        """One triplet of prepared ``atoms`` at RELION ``angles`` (degrees): dict of (s, s) arrays
        ``diffraction``, ``low``, ``high``, the ``dose`` and the diffraction ``angular_sampling``."""
        wave = self._exit_wave(atoms, angles)
        patterns = wave.diffraction_patterns(max_angle=self.max_angle, block_direct=True)
        if patterns.is_lazy:
            patterns = patterns.compute(scheduler="synchronous")
        pattern = np.asarray(patterns.array, dtype=np.float64).T  # (kx, ky) → (ky, kx)
        extent = pattern.shape[-1] * float(patterns.angular_sampling[0])  # mrad
        high = self._image(wave, self.high_defocus, None)
        clean = self._image(wave, self.low_defocus, self.low_cutoff)
        area = self.pixel_size ** 2
        if self.dose is not None:
            dose = self.dose
        else:
            dose = self.low_snr * float(clean.mean()) / max(float(clean.var()) * area, 1e-30)
        # inverse-CDF Poisson draws, one uniform per pixel: a rounding-level change of the clean image
        # cannot shift the random stream (as rejection sampling would), so noise is reproducible
        # (normal approximation above 10⁶ counts, where the Poisson inverse CDF loses precision)
        from scipy.special import ndtri
        from scipy.stats import poisson

        u = rng.random(clean.shape)
        lam = np.clip(clean, 0, None) * dose * area
        big = lam > 1e6
        counts = np.where(big, lam + np.sqrt(lam) * ndtri(u), poisson.ppf(u, np.where(big, 1.0, lam)))
        return {"diffraction": _resize_pattern(pattern, self.image_size), "high": high,
                "low": counts / (dose * area), "dose": dose, "angular_sampling": extent / self.image_size}

    def simulate(self, source, angles=None, count: int = 1, seed: int = 0) -> Triplets:
        """Triplets of a structure (:class:`Atoms` or a path) at ``angles`` (n, 3) RELION degrees, or
        at ``count`` uniformly random orientations; noise seeded by (seed, index)."""
        from emgan_core.simulators import random_euler

        atoms = self.prepare(self.read_input(source) if not isinstance(source, Atoms) else source)
        angles = random_euler(count, np.random.default_rng([seed, 11])) if angles is None else \
            np.asarray(angles, np.float64).reshape(-1, 3)
        parts = [self.simulate_one(atoms, a, np.random.default_rng([seed, i])) for i, a in enumerate(angles)]
        stack = {k: np.stack([p[k] for p in parts]).astype(np.float32) for k in CHANNELS}
        return Triplets(**stack, angles=angles, dose=np.array([p["dose"] for p in parts]),
                        pixel_size=self.pixel_size, angular_sampling=parts[0]["angular_sampling"],
                        settings=self.settings())

    def write_output(self, result: Triplets, path) -> list:
        """Write the three channels as .mrcs stacks ``NAME_diffraction.mrcs``, ``NAME_low.mrcs`` and
        ``NAME_high.mrcs`` beside ``path`` (images at their pixel size; the pattern's header pixel
        size is its mrad/pixel). Each is written atomically; all are checked writable first."""
        from pathlib import Path

        from emgan_core.io import write_image_stack
        from emgan_core.io.atomic import check_writable
        from emgan_core.volume import ImageStack

        path = Path(path)
        stem = path.name[: len(path.name) - len("".join(path.suffixes))] if path.suffixes else path.name
        paths = {c: path.with_name(f"{stem}_{c}.mrcs") for c in CHANNELS}
        for p in paths.values():
            check_writable(p)
        for c, p in paths.items():
            spacing = result.angular_sampling if c == "diffraction" else result.pixel_size
            write_image_stack(p, ImageStack(getattr(result, c), spacing))
        return list(paths.values())

    def read_input(self, path):
        from emgan_core.io import read_structure

        return read_structure(path, hydrogens=self.hydrogens)
