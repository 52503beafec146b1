"""Gaussian density maps from atomic models (ChimeraX molmap and TEMPy conventions), in torch.

Each atom contributes ``w · G(r; σ)``, a normalised 3D Gaussian of width σ = sigma_factor ×
resolution (``G = (2π)^-3/2 σ^-3 exp(-r²/2σ²)``, density per Å³ × weight), cut off beyond
``cutoff_sigmas`` σ along each axis: a grid point is included when every one of its three
axis distances to the atom is at most cutoff·σ (a box, not a sphere), as ChimeraX's molmap does.

``convention="molmap"`` reproduces ChimeraX ``molmap`` (its ``sum_of_gaussians`` kernel and
normalisation): σ = R/(π√2) ≈ 0.225·R, atomic-number weights, the Gaussian sampled at the grid
points (``sampling="point"``), cutoff 5 σ per axis, and, on a fitted grid (``grid_rule="molmap"``),
ChimeraX's bounding grid: spacing R/3 unless ``voxel_size`` is given, origin at the atoms' minimum
corner minus an edge padding of 3·R, ``ceil((max − min + 2·pad) / spacing)`` points per axis.

Sampling: at high resolution on a 1 Å grid σ is narrower than a voxel (σ = 0.45 Å at 2 Å), and
sampling the Gaussian only at voxel centres (``sampling="point"``, molmap's values) makes an
atom's total density depend on where it falls inside its voxel. ``sampling="integral"`` stores
the mean of the Gaussian over each voxel (error functions per axis), so every atom contributes
exactly its weight to the map's integral wherever it sits. At resolutions where σ exceeds the
voxel size both modes agree to better than 1 %. ``sampling="auto"`` is the convention's: point
for molmap (ChimeraX), integral for the TEMPy and EMAN2 approximations.

Algorithm (exact, no interpolation): the Gaussian is separable, so each atom's window is the
outer product of three 1D weight vectors, each exactly as long as the cutoff allows
(:func:`window_length`: 5 points per axis at 2 Å on a 1 Å grid, 12 at 5 Å). Windows are formed for
a chunk of atoms at once and scattered into the map with one ``index_add_`` (int32 indices), on
the CPU or the GPU; there is no Python loop per atom.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from ..errors import EmganError
from ..interfaces import Simulator
from ..io.structures import Atoms
from ..transforms.intensity import normalise
from ..volume import Volume

#: σ / resolution of each convention: molmap 1/(π√2) ≈ 0.225 (Fourier transform at 1/e at
#: 1/resolution); TEMPy's default 0.356 (1/e width equal to the resolution); eman2 1/(2π) ≈ 0.159,
#: the real-space width of e2pdb2mrc's Gaussian low-pass whose Fourier σ is 1/resolution (an
#: approximation of that program: it splats electrons on the grid and then filters).
SIGMA_FACTORS = {"molmap": 1.0 / (math.pi * math.sqrt(2.0)), "tempy": 0.356, "eman2": 1.0 / (2.0 * math.pi)}
#: Atom weights of each convention: molmap and eman2 by atomic number, TEMPy by atomic mass.
WEIGHTS = {"molmap": "atomic_number", "tempy": "mass", "eman2": "atomic_number"}
#: Sampling of each convention (``sampling="auto"``): ChimeraX molmap evaluates the Gaussian at
#: the grid points; the other two are approximations, kept on the weight-conserving voxel mean.
SAMPLINGS = {"molmap": "point", "tempy": "integral", "eman2": "integral"}


class GaussianSimulator(Simulator):
    """Density map of an atomic model at a given resolution.

    Args:
        resolution: target resolution in Å (sets σ = sigma_factor × resolution).
        voxel_size: grid spacing in Å of a fitted grid (ignored when a ``grid`` is given to
            :meth:`simulate`); ``None``: ChimeraX's default, resolution / 3.
        convention: ``molmap`` (ChimeraX molmap: σ = 0.225·R, atomic-number weights, point
            sampling), ``tempy`` (σ = 0.356·R, mass weights) or ``eman2`` (σ = R/2π,
            atomic-number weights).
        sigma_factor: overrides the convention's σ / resolution.
        weights: ``auto`` (the convention's), ``atomic_number``, ``mass`` or ``one``.
        sampling: ``auto`` (the convention's), ``point`` (Gaussian value at each grid point) or
            ``integral`` (voxel mean, conserves each atom's weight).
        cutoff_sigmas: Gaussian cut-off along each axis, in σ (molmap: 5).
        padding: margin around the atoms in Å when no grid is given (default 3 × resolution).
        grid_rule: fitted grid when none is given: ``lattice`` (origin on the voxel lattice,
            covers min − padding … max + padding inclusive) or ``molmap`` (ChimeraX's bounding
            grid, see the module docstring).
        normalise: ``none``, ``minmax`` (to [0, 1]) or ``zscore`` (mean 0, standard deviation 1).
        device: torch device for the computation (``cpu``, ``cuda``…).
        chunk_voxels: bound on atom×window entries formed at once (≈ 8 bytes each).
        max_grid_voxels: largest fitted grid (voxels; float32, so 4 bytes each) made around a
            model; a larger one is refused with the size it would need (default 2³⁰: 4 GiB).
    """

    input_kind = "structure"

    def __init__(
        self,
        resolution: float = 2.0,
        voxel_size: float | None = 1.0,
        convention: Literal["molmap", "tempy", "eman2"] = "molmap",
        sigma_factor: float | None = None,
        weights: Literal["auto", "atomic_number", "mass", "one"] = "auto",
        sampling: Literal["auto", "integral", "point"] = "auto",
        cutoff_sigmas: float = 5.0,
        padding: float | None = None,
        grid_rule: Literal["lattice", "molmap"] = "lattice",
        normalise: Literal["none", "minmax", "zscore"] = "none",
        device: str = "cpu",
        chunk_voxels: int = 1 << 22,
        max_grid_voxels: int = 1 << 30,
    ):
        if not 0.1 <= resolution <= 1000:
            raise EmganError(f"resolution must lie between 0.1 and 1000 Å, got {resolution}", "resolution")
        if voxel_size is not None and not 1e-3 <= voxel_size <= 1000:
            raise EmganError(f"voxel size must lie between 0.001 and 1000 Å, got {voxel_size}", "voxel_size")
        if padding is not None and not 0 <= padding <= 1e4:
            raise EmganError(f"padding must lie between 0 and 10,000 Å, got {padding}", "padding")
        if not cutoff_sigmas > 0:
            raise EmganError(f"must be positive, got {cutoff_sigmas}", "cutoff_sigmas")
        if convention not in SIGMA_FACTORS:
            raise EmganError(f"unknown convention {convention!r} (molmap, tempy or eman2)", "convention")
        if sampling not in ("auto", "point", "integral"):
            raise EmganError(f"unknown sampling {sampling!r} (auto, point or integral)", "sampling")
        if grid_rule not in ("lattice", "molmap"):
            raise EmganError(f"unknown grid rule {grid_rule!r} (lattice or molmap)", "grid_rule")
        self.resolution = float(resolution)
        self.voxel_size = self.resolution / 3.0 if voxel_size is None else float(voxel_size)
        self.convention = convention
        self.sigma_factor = float(sigma_factor) if sigma_factor else SIGMA_FACTORS[convention]
        self.weights = WEIGHTS[convention] if weights == "auto" else weights
        self.sampling = SAMPLINGS[convention] if sampling == "auto" else sampling
        self.cutoff_sigmas = float(cutoff_sigmas)
        self.padding = 3.0 * self.resolution if padding is None else float(padding)
        self.grid_rule = grid_rule
        self.normalise = normalise
        self.device = torch.device(device)
        self.chunk_voxels = int(chunk_voxels)
        if not max_grid_voxels >= 1:
            raise EmganError(f"must be at least 1, got {max_grid_voxels}", "max_grid_voxels")
        self.max_grid_voxels = int(max_grid_voxels)

    @property
    def sigma(self) -> float:
        """Gaussian standard deviation in Å."""
        return self.sigma_factor * self.resolution

    def grid_for(self, atoms: Atoms) -> Volume:
        """An empty grid around the atoms with ``padding`` Å margin (see ``grid_rule``)."""
        lo = atoms.xyz.min(0) - self.padding
        hi = atoms.xyz.max(0) + self.padding
        h = self.voxel_size
        if self.grid_rule == "molmap":  # ChimeraX bounding_grid: origin min - pad, ceil(extent / step)
            origin = lo
            shape_xyz = np.ceil((hi - lo) / h).astype(int)
        else:
            origin = np.floor(lo / h) * h
            shape_xyz = np.ceil((hi - origin) / h) + 1
        voxels = float(np.prod(shape_xyz))  # in floating point: no integer overflow before the check
        if voxels > self.max_grid_voxels:
            span = " × ".join(f"{v:.0f}" for v in atoms.xyz.max(0) - atoms.xyz.min(0))
            raise EmganError(f"the atoms span {span} Å: a grid around them at {h:g} Å voxels would be "
                             f"{' × '.join(f'{v:.0f}' for v in shape_xyz)} voxels ({4 * voxels / 2**30:.1f} GiB), over "
                             f"max_grid_voxels = {self.max_grid_voxels:,} ({4 * self.max_grid_voxels / 2**30:.1f} GiB): "
                             "check the model's coordinates, use larger voxels, simulate onto a map's grid "
                             "(--on-grid) or raise max_grid_voxels", atoms.source or None)
        return Volume(np.zeros(shape_xyz.astype(int)[::-1], np.float32), voxel_size=h, origin=origin)

    def check_overlap(self, atoms: Atoms, grid: Volume) -> None:
        """Refuse a grid that none of the atoms reaches (the map would be all zero): for a user's
        map and model (``simulate --on-grid``, a benchmark's reference), where it means a model that
        is not in that map's frame. (Library callers may simulate atoms beside a box on purpose.)"""
        reach = self.cutoff_sigmas * self.sigma
        lo = grid.origin - reach
        hi = grid.origin + (np.array(grid.shape[::-1]) - 1) * grid.voxel_size + reach
        if not np.any(np.all((atoms.xyz >= lo) & (atoms.xyz <= hi), axis=1)):
            box = ", ".join(f"{a} {o:.1f}…{e:.1f}" for a, o, e in zip("xyz", grid.origin, hi - reach))
            span = ", ".join(f"{a} {o:.1f}…{e:.1f}" for a, o, e in zip("xyz", atoms.xyz.min(0), atoms.xyz.max(0)))
            raise EmganError(f"none of the {len(atoms):,} atoms lies on the grid ({box} Å); the atoms span "
                             f"{span} Å: is this the model of that map?", atoms.source or None)

    def atom_weights(self, atoms: Atoms) -> np.ndarray:
        if self.weights == "atomic_number":
            return atoms.atomic_number.astype(np.float64)
        if self.weights == "mass":
            return atoms.mass.astype(np.float64)
        return np.ones(len(atoms))

    def simulate(self, source: Atoms, grid: Volume | None = None) -> Volume:
        """Simulate ``source`` on ``grid`` (its shape, voxel size and origin) or on a fitted grid."""
        if grid is None:
            grid = self.grid_for(source)
        density = gaussian_density(
            source.xyz, self.atom_weights(source), grid.shape, grid.voxel_size, grid.origin,
            sigma=self.sigma, cutoff_sigmas=self.cutoff_sigmas, sampling=self.sampling,
            device=self.device, chunk_voxels=self.chunk_voxels,
        )
        return Volume(normalise(density, self.normalise), voxel_size=grid.voxel_size, origin=grid.origin)


#: grid points one atom may reach (its window): a grid far finer than σ is refused, not allocated
MAX_WINDOW_VOXELS = 1 << 24


def window_length(sigma_vox: float, cutoff: float, sampling: str) -> int:
    """Grid points per axis that one atom can reach: floor(2·c·σ) + 1 for point sampling (the
    points with |i − f| ≤ c·σ), floor(2·c·σ + 1) + 1 for voxel means (|i − f| − ½ ≤ c·σ)."""
    reach = cutoff * sigma_vox + (0.5 if sampling == "integral" else 0.0)
    return int(math.floor(2 * reach)) + 1


def _axis_weights(frac, sigma_vox, cutoff, sampling, length):
    """Per-atom 1D weights (atoms, length) from the first index of each atom's window.

    ``frac`` are fractional voxel coordinates (atoms,), ``sigma_vox`` σ in voxels. Weights are
    per unit length in voxels (the 3D product times 1 / voxel volume is density per Å³). Points
    beyond the cutoff get weight 0. Returns (weights, first index).
    """
    reach = cutoff * sigma_vox + (0.5 if sampling == "integral" else 0.0)
    first = torch.ceil(frac - reach).long()
    dist = (first[:, None] + torch.arange(length, device=frac.device)[None, :]).to(frac.dtype) - frac[:, None]
    if sampling == "point":
        w = torch.exp(-0.5 * (dist / sigma_vox) ** 2) * (1.0 / (sigma_vox * math.sqrt(2 * math.pi)))
    else:
        s = sigma_vox * math.sqrt(2.0)
        w = 0.5 * (torch.erf((dist + 0.5) / s) - torch.erf((dist - 0.5) / s))
    w = torch.where(dist.abs() <= reach, w, torch.zeros_like(w))
    return w, first


def _check_window(sig: list[float], cutoff: float, voxel_size, sigma: float) -> None:
    """Refuse, before allocating it, a window of more than :data:`MAX_WINDOW_VOXELS` per atom."""
    reach = float(np.prod([2.0 * cutoff * s for s in sig]))
    if reach > MAX_WINDOW_VOXELS:
        raise EmganError(f"voxels of {' × '.join(f'{v:.3g}' for v in voxel_size)} Å are too fine for σ = "
                         f"{sigma:.3g} Å: each atom would reach about {reach:.3g} grid points (at most "
                         f"{MAX_WINDOW_VOXELS:,}); use a coarser grid or a finer resolution", "voxel_size")


def gaussian_density(
    xyz: np.ndarray,
    weights: np.ndarray,
    shape: tuple[int, int, int],
    voxel_size: np.ndarray,
    origin: np.ndarray,
    *,
    sigma: float,
    cutoff_sigmas: float = 5.0,
    sampling: str = "point",
    device: torch.device | str = "cpu",
    chunk_voxels: int = 1 << 22,
) -> np.ndarray:
    """Sum of normalised Gaussians (σ in Å) on a (z, y, x) grid; density per Å³ × weight.

    ``xyz`` (n, 3) Å in (x, y, z) order; ``voxel_size`` and ``origin`` (x, y, z) Å; grid point
    (k, j, i) sits at ``origin + (i, j, k) · voxel_size``. Atoms outside the grid add what their
    windows reach inside it. Computed in float32; ``chunk_voxels`` bounds the atom-window entries
    formed at once (≈ 8 bytes each).
    """
    if sampling not in ("point", "integral"):
        raise EmganError(f"unknown sampling {sampling!r} (point or integral)", "sampling")
    device = torch.device(device)
    voxel_size = np.broadcast_to(np.asarray(voxel_size, np.float64), (3,))
    origin = np.asarray(origin, np.float64)
    nz, ny, nx = (int(s) for s in shape)
    out = torch.zeros(nz * ny * nx, dtype=torch.float32, device=device)
    if len(xyz) == 0 or out.numel() == 0:
        return out.view(nz, ny, nx).cpu().numpy()
    sig = [sigma / float(v) for v in voxel_size]  # σ in voxels along x, y, z
    _check_window(sig, cutoff_sigmas, voxel_size, sigma)
    lengths = [window_length(s, cutoff_sigmas, sampling) for s in sig]
    frac = torch.as_tensor((np.asarray(xyz, np.float64) - origin) / voxel_size, dtype=torch.float32,
                           device=device)
    amp = torch.as_tensor(np.asarray(weights, np.float64) / np.prod(voxel_size), dtype=torch.float32,
                          device=device)
    # int32 flat indices when the grid allows it (half the index traffic of int64)
    itype = torch.int32 if out.numel() < 2**31 else torch.int64
    strides, sizes = (1, nx, nx * ny), (nx, ny, nz)
    axes = []
    for a in range(3):
        w, first = _axis_weights(frac[:, a], sig[a], cutoff_sigmas, sampling, lengths[a])
        index = first[:, None] + torch.arange(lengths[a], device=device)[None, :]
        inside = (index >= 0) & (index < sizes[a])
        w = torch.where(inside, w, torch.zeros_like(w))  # outside the grid: weight 0, index clamped
        axes.append((w, (index.clamp_(0, sizes[a] - 1) * strides[a]).to(itype)))
    (wx, ix), (wy, iy), (wz, iz) = axes
    wz = wz * amp[:, None]
    step = max(1, chunk_voxels // int(np.prod(lengths)))
    for s in range(0, frac.shape[0], step):
        sl = slice(s, s + step)
        zy_w = wz[sl, :, None] * wy[sl, None, :]  # (atoms, lz, ly)
        zy_i = iz[sl, :, None] + iy[sl, None, :]
        values = zy_w[:, :, :, None] * wx[sl, None, None, :]
        flat = zy_i[:, :, :, None] + ix[sl, None, None, :]
        out.index_add_(0, flat.reshape(-1), values.reshape(-1))
    return out.view(nz, ny, nx).cpu().numpy()
