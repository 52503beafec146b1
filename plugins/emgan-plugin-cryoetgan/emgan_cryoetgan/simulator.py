"""``simulator/subtomogram``: realistic stand-ins for experimental subtomograms (domain S).

A structure becomes a Gaussian density map (``simulator/gaussian``, molmap convention) in a
``box``³ grid of ``voxel_size`` Å, rotated about its centre of mass (RELION Euler angles, uniform
on SO(3) unless given) and shifted by up to ``max_shift`` voxels: that map is the domain-D sample.
The subtomogram is then, with ``method``:

- ``wbp``: a single-axis tilt series (axis y) from −``max_tilt`` to +``max_tilt`` in ``tilt_step``
  degrees, each projection multiplied by the CTF (``defocus`` Å underfocus) plus white Gaussian
  noise at ``snr`` (variance of the projection over the box / noise variance, per projection),
  reconstructed by weighted back-projection;
- ``wedge``: the density's Fourier transform multiplied by the radial CTF and the missing-wedge
  mask of the same series, plus white noise masked to the same wedge at ``snr`` (variance ratio in
  the volume): the same information content without interpolation, about 20 times faster.

With the defaults that is the conventional model (one CTF for every tilt, the same SNR in every
tilt). The ``wbp`` method also has the physics of a real tilt series, each off by default (the
"experimental" domain of the quickstart uses all of them):

- ``defocus_spread`` (Å): each particle's tomogram has its own defocus, uniform in
  ``defocus`` ± ``defocus_spread``;
- ``field_of_view`` and ``thickness`` (Å): the particle sits at x uniform in ±``field_of_view``/2
  from the tilt axis and z uniform in ±(``thickness`` − box)/2 from the specimen mid-plane; at tilt
  θ its defocus is Δf + x·sin θ − z·cos θ (the defocus gradient across the tilted specimen: up to
  ±8,700 Å at 60° and 1 µm from the axis), and the ice path length t/cos θ attenuates the
  zero-loss signal by exp(−t/(λ cos θ)), λ = ``mean_free_path`` Å, so the per-tilt SNR is
  ``snr`` · exp(−t/λ · (1/cos θ − 1));
- ``dose`` (e⁻/Å², the whole series): tilts are recorded in dose-symmetric order (by |θ|,
  positive first) and each projection is attenuated by the exposure filter of its accumulated dose
  D, exp(−D / (2 N_e(k))), N_e(k) = 0.245 k^−1.665 + 2.81 e⁻/Å² (Grant & Grigorieff 2015, 300 kV;
  k in 1/Å) — radiation damage that grows through the series; the noise stays that of one tilt's
  dose, so late (high-tilt) images have less signal at the same noise;
- ``neighbours``: that many other particles (from :attr:`neighbour_pool`, default the particle's
  own structure) at random orientations, centred 0.55–0.85 box edges away in random directions,
  reach into the box;
- ``ice`` : amorphous ice, a Gaussian random field low-passed at ``resolution`` with ``ice`` times
  the particle map's standard deviation over the box, fills the box before projection.

Output axes (z, y, x), z the beam at zero tilt: the missing wedge elongates densities along z.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np

from emgan_core.api import Atoms, EmganError, GaussianSimulator, Simulator, Volume, euler_matrix, random_euler

from . import tomography


@dataclass
class SubtomogramSample:
    """One simulated particle: its clean density (domain D), its subtomogram (domain S), the RELION
    angles (rot, tilt, psi) in degrees and the shift (x, y, z) in Å applied to it."""

    density: Volume
    subtomogram: Volume
    angles: np.ndarray
    shift: np.ndarray


class SubtomogramSimulator(Simulator):
    """Density → random orientation → tilt series with CTF and noise → reconstruction.

    Args:
        box: edge in voxels. voxel_size: Å/voxel. resolution: Å of the Gaussian map (default
            2 × voxel_size). max_shift: voxels, uniform per axis.
        method: ``wbp``, ``wedge`` or ``none`` (the rotated density only).
        max_tilt, tilt_step: degrees. defocus: Å underfocus (0: no CTF). voltage: kV. cs: mm.
        amplitude_contrast: fraction. snr: signal-to-noise variance ratio (None: no noise).
        defocus_spread, field_of_view, thickness, mean_free_path: Å. dose: e⁻/Å² over the series.
        neighbours: count. ice: fraction of the particle map's standard deviation. All ``wbp`` only,
        0 = off (see the module docstring).
    """

    input_kind = "structure"

    def __init__(self, box: int = 32, voxel_size: float = 9.4, resolution: float | None = None,
                 max_shift: float = 1.0, method: Literal["wbp", "wedge", "none"] = "wbp",
                 max_tilt: float = 60.0, tilt_step: float = 3.0, defocus: float = 30000.0,
                 voltage: float = 300.0, cs: float = 2.7, amplitude_contrast: float = 0.07,
                 snr: float | None = 0.1, defocus_spread: float = 0.0, field_of_view: float = 0.0,
                 thickness: float = 0.0, mean_free_path: float = 3500.0, dose: float = 0.0,
                 neighbours: int = 0, ice: float = 0.0):
        if box < 8:
            raise EmganError(f"box must be >= 8 voxels, got {box}", "box")
        if not voxel_size > 0:
            raise EmganError(f"voxel_size must be positive (Å/voxel), got {voxel_size}", "voxel_size")
        if method not in ("wbp", "wedge", "none"):
            raise EmganError(f"method must be wbp, wedge or none, got {method!r}", "method")
        if not 0 < max_tilt <= 90 or not 0 < tilt_step <= max_tilt:
            raise EmganError(f"need 0 < tilt_step <= max_tilt <= 90 degrees, got {tilt_step}, {max_tilt}",
                             "max_tilt")
        if snr is not None and not snr > 0:
            raise EmganError(f"snr must be positive (or null for no noise), got {snr}", "snr")
        if defocus < 0 or max_shift < 0:
            raise EmganError("defocus (Å underfocus) and max_shift (voxels) must be >= 0", "defocus")
        extras = {"defocus_spread": defocus_spread, "field_of_view": field_of_view, "thickness": thickness,
                  "dose": dose, "neighbours": neighbours, "ice": ice}
        for name, value in extras.items():
            if value < 0:
                raise EmganError(f"{name} must be >= 0, got {value}", name)
        if method != "wbp" and any(extras.values()):
            raise EmganError(f"{', '.join(k for k, v in extras.items() if v)} need method: wbp, not {method}",
                             next(k for k, v in extras.items() if v))
        if defocus_spread > defocus:
            raise EmganError(f"defocus_spread {defocus_spread} Å exceeds defocus {defocus} Å (overfocus)",
                             "defocus_spread")
        if not mean_free_path > 0:
            raise EmganError(f"mean_free_path must be positive (Å), got {mean_free_path}", "mean_free_path")
        if thickness and thickness < box * voxel_size:
            raise EmganError(f"thickness {thickness} Å is thinner than the box ({box * voxel_size:g} Å)", "thickness")
        self.defocus_spread, self.field_of_view, self.thickness = float(defocus_spread), float(field_of_view), \
            float(thickness)
        self.mean_free_path, self.dose, self.neighbours, self.ice = float(mean_free_path), float(dose), \
            int(neighbours), float(ice)
        self.neighbour_pool: list[Atoms] | None = None
        self.box, self.voxel_size = int(box), float(voxel_size)
        self.resolution = float(resolution) if resolution else 2.0 * self.voxel_size
        self.max_shift, self.method = float(max_shift), method
        self.angles = tomography.tilt_angles(max_tilt, tilt_step)
        self.max_tilt, self.tilt_step = float(max_tilt), float(tilt_step)
        self.defocus, self.snr = float(defocus), snr
        self.optics = {"voltage": float(voltage), "cs": float(cs), "amplitude_contrast": float(amplitude_contrast)}

    # -- domain D ---------------------------------------------------------------------------------

    def density(self, atoms: Atoms, angles=(0.0, 0.0, 0.0), shift=(0.0, 0.0, 0.0)) -> Volume:
        """The Gaussian map (box³, origin 0) of ``atoms`` turned by RELION ``angles`` (degrees) about
        their centre of mass, which lands on the box centre (voxel box // 2) plus ``shift`` (x, y, z) Å."""
        rotation = euler_matrix(*angles)
        centre = (self.box // 2) * self.voxel_size + np.asarray(shift, np.float64)
        xyz = (atoms.xyz - atoms.centre_of_mass()) @ rotation.T + centre
        grid = Volume(np.zeros((self.box,) * 3, np.float32), voxel_size=self.voxel_size)
        gaussian = GaussianSimulator(self.resolution, self.voxel_size, convention="molmap", sampling="integral")
        return gaussian.simulate(dataclasses.replace(atoms, xyz=xyz), grid=grid)

    # -- domain S ---------------------------------------------------------------------------------

    def _noise_sd(self, signal: np.ndarray) -> float:
        return float(np.sqrt(signal.var() / self.snr)) if self.snr else 0.0

    def corrupt(self, density: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The subtomogram (z, y, x) of a clean ``density`` box (same shape)."""
        if self.method == "none":
            return density.astype(np.float32)
        if self.method == "wedge":
            f = np.fft.fftn(density)
            wedge = tomography.wedge_mask(density.shape, self.max_tilt)
            if self.defocus:
                f *= tomography.radial_ctf(density.shape, self.voxel_size, self.defocus, **self.optics)
            signal = np.fft.ifftn(f * wedge).real
            noise = np.fft.ifftn(np.fft.fftn(rng.standard_normal(density.shape)) * wedge).real
            noise *= self._noise_sd(signal) / max(float(noise.std()), 1e-30)
            return (signal + noise).astype(np.float32)
        series = tomography.project_tilt_series(density, self.angles)
        defoci, snrs = self.tilt_conditions(rng)
        if self.defocus:
            from emgan_core.api import apply_ctf, ctf_2d

            series = np.stack([apply_ctf(p, ctf_2d(p.shape, self.voxel_size, d, **self.optics))
                               for p, d in zip(series, defoci)])
        reference = float(series[np.argmin(np.abs(self.angles))].var())
        if self.dose:
            series = np.stack([self._exposure_filter(p, d) for p, d in zip(series, self.accumulated_dose())])
        if self.snr:
            if self.dose or self.thickness:  # one tilt's dose of noise; signal that fades through the series
                sd = np.sqrt(reference / snrs)[:, None, None]
            else:
                sd = np.array([self._noise_sd(p) for p in series])[:, None, None]
            series = series + sd * rng.standard_normal(series.shape)
        return tomography.weighted_back_projection(series, self.angles, density.shape[0])

    def tilt_conditions(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(defocus Å, SNR) of each tilt for one particle: its tomogram's defocus (``defocus_spread``),
        the height of the particle along the tilted beam (``field_of_view``, ``thickness``) and the
        ice path length. Conventional model: ``defocus`` and ``snr`` at every tilt, no draws."""
        theta = np.deg2rad(self.angles)
        defocus = self.defocus + (rng.uniform(-1, 1) * self.defocus_spread if self.defocus_spread else 0.0)
        x = rng.uniform(-0.5, 0.5) * self.field_of_view if self.field_of_view else 0.0
        depth = max(self.thickness - self.box * self.voxel_size, 0.0)
        z = rng.uniform(-0.5, 0.5) * depth if depth else 0.0
        defoci = np.maximum(defocus + x * np.sin(theta) - z * np.cos(theta), 0.0)
        snrs = np.full(len(theta), float(self.snr or 0.0))
        if self.thickness:
            snrs *= np.exp(-self.thickness / self.mean_free_path * (1.0 / np.cos(theta) - 1.0))
        return defoci, snrs

    def accumulated_dose(self) -> np.ndarray:
        """e⁻/Å² received by the specimen by the middle of each tilt's exposure (order of
        :attr:`angles`), tilts taken in dose-symmetric order (by |θ|, positive first)."""
        per_tilt = self.dose / len(self.angles)
        order = sorted(range(len(self.angles)), key=lambda i: (abs(self.angles[i]), -self.angles[i]))
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order))
        return (rank + 0.5) * per_tilt

    def _exposure_filter(self, image: np.ndarray, dose: float) -> np.ndarray:
        """``image`` attenuated by exp(−dose / (2 N_e(k))), N_e(k) = 0.245 k^−1.665 + 2.81 (Grant &
        Grigorieff 2015), k in 1/Å; the zero frequency kept."""
        ky = np.fft.fftfreq(image.shape[0], self.voxel_size)[:, None]
        kx = np.fft.fftfreq(image.shape[1], self.voxel_size)[None, :]
        k = np.sqrt(ky ** 2 + kx ** 2)
        k[0, 0] = np.inf
        critical = 0.245 * k ** -1.665 + 2.81
        return np.fft.ifft2(np.fft.fft2(image) * np.exp(-dose / (2.0 * critical))).real.astype(np.float32)

    def scene(self, density: Volume, atoms: Atoms, rng: np.random.Generator) -> np.ndarray:
        """What the tilt series images: the particle's map plus ``neighbours`` and ``ice``."""
        data = density.data.astype(np.float64)
        pool = self.neighbour_pool or [atoms]
        for _ in range(self.neighbours):
            other = pool[int(rng.integers(len(pool)))]
            direction = rng.standard_normal(3)
            direction /= np.linalg.norm(direction)
            offset = direction * rng.uniform(0.55, 0.85) * self.box * self.voxel_size
            data += self.density(other, random_euler(1, rng)[0], offset).data
        if self.ice:
            from scipy import ndimage

            sigma = self.resolution / (2.355 * self.voxel_size)  # voxels: FWHM = resolution
            field = ndimage.gaussian_filter(rng.standard_normal(data.shape), sigma, mode="wrap")
            data += field * (self.ice * float(density.data.std()) / max(float(field.std()), 1e-30))
        return data.astype(np.float32)

    def settings(self) -> dict:
        """Every parameter as this simulator uses it (defaults filled in): what decides its output
        for given structures and seeds."""
        return {"box": self.box, "voxel_size": self.voxel_size, "resolution": self.resolution,
                "max_shift": self.max_shift, "method": self.method, "max_tilt": self.max_tilt,
                "tilt_step": self.tilt_step, "defocus": self.defocus, **self.optics, "snr": self.snr,
                "defocus_spread": self.defocus_spread, "field_of_view": self.field_of_view,
                "thickness": self.thickness, "mean_free_path": self.mean_free_path, "dose": self.dose,
                "neighbours": self.neighbours, "ice": self.ice}

    def conventional(self) -> "SubtomogramSimulator":
        """The conventional simulation the paper compares against, at this simulator's nominal
        settings: the ``wedge`` model (one CTF at ``defocus`` for the whole particle, the missing
        wedge as a Fourier mask, white Gaussian noise at ``snr``), none of the tilt-series physics."""
        return SubtomogramSimulator(self.box, self.voxel_size, self.resolution, self.max_shift, "wedge",
                                    self.max_tilt, float(self.angles[1] - self.angles[0]), self.defocus,
                                    snr=self.snr, **self.optics)

    def sample(self, atoms: Atoms, rng: np.random.Generator, angles=None, shift=None) -> SubtomogramSample:
        """One particle at ``angles``/``shift`` or at a random orientation and shift drawn from ``rng``."""
        angles = random_euler(1, rng)[0] if angles is None else np.asarray(angles, np.float64)
        if shift is None:
            shift = rng.uniform(-self.max_shift, self.max_shift, 3) * self.voxel_size
        density = self.density(atoms, angles, shift)
        imaged = self.scene(density, atoms, rng) if (self.neighbours or self.ice) else density.data
        sub = density.with_data(self.corrupt(imaged, rng))
        return SubtomogramSample(density, sub, angles, np.asarray(shift, np.float64))

    def simulate(self, source: Atoms, angles=None, shift=None, seed: int = 0) -> Volume:
        """One subtomogram of ``source`` (random orientation and shift from ``seed`` unless given)."""
        return self.sample(source, np.random.default_rng(seed), angles, shift).subtomogram
