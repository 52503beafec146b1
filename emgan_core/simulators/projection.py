"""Projections of density maps: RELION Euler angles, uniform orientations, Fourier-slice and
real-space projectors.

Convention (RELION's): a projection at Euler angles (rot, tilt, psi), Z-Y-Z in degrees, with matrix
``A`` is ``P(x, y) = ∫ V(Aᵀ (x, y, z)) dz``; its 2D Fourier transform is the central slice
``F(kx, ky) = V̂(Aᵀ (kx, ky, 0))``. The rotation centre is voxel ``n // 2`` along each axis, as in
RELION. Volumes are (z, y, x) cubes with voxel size ``a`` Å; images are (y, x) with the same pixel
size; a projection is the line integral (sum × a, density·Å).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import EmganError


def euler_matrix(rot, tilt, psi) -> np.ndarray:
    """RELION's Z-Y-Z rotation matrices (…, 3, 3) from angles in degrees (arrays broadcast)."""
    a, b, g = (np.deg2rad(np.asarray(v, dtype=np.float64)) for v in (rot, tilt, psi))
    ca, sa, cb, sb, cg, sg = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(g), np.sin(g)
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    rows = [[cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb],
            [-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb],
            [sc, ss, cb * np.ones_like(ca)]]
    return np.stack([np.stack(np.broadcast_arrays(*r), -1) for r in rows], -2)


def matrix_to_euler(matrix: np.ndarray) -> np.ndarray:
    """(…, 3) RELION angles (rot, tilt, psi) in degrees of rotation matrices (…, 3, 3)."""
    m = np.asarray(matrix, dtype=np.float64)
    tilt = np.arccos(np.clip(m[..., 2, 2], -1.0, 1.0))
    rot = np.arctan2(m[..., 2, 1], m[..., 2, 0])
    psi = np.arctan2(m[..., 1, 2], -m[..., 0, 2])
    flat = np.abs(np.sin(tilt)) < 1e-8  # gimbal lock: put the whole in-plane angle in psi
    if np.any(flat):
        rot = np.where(flat, 0.0, rot)
        psi = np.where(flat, np.arctan2(-m[..., 1, 0], m[..., 0, 0]), psi)
    return np.rad2deg(np.stack([rot, tilt, psi], -1))


def random_euler(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 3) RELION angles (degrees) of rotations uniform on SO(3) (normalised Gaussian quaternions)."""
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    m = np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)
    return matrix_to_euler(m)


def grid_euler(n: int) -> np.ndarray:
    """(n, 3) RELION angles (degrees) of a deterministic, near-uniform Z-Y-Z grid of ``n`` orientations.

    Viewing directions (rot, tilt) lie on a Fibonacci sphere (equal area per point, rot advancing
    by the golden angle); the in-plane angle psi advances by 360°/ρ (ρ the plastic number), a
    step incommensurate with the golden one, so psi is uncorrelated with rot and E[R] ≈ 0.
    """
    if n < 1:
        raise ValueError(f"need at least one orientation, got {n}")
    i = np.arange(n, dtype=np.float64)
    golden = np.pi * (3.0 - np.sqrt(5.0))  # radians
    tilt = np.rad2deg(np.arccos(1.0 - 2.0 * (i + 0.5) / n))
    rot = np.rad2deg(i * golden) % 360.0
    psi = (i * 360.0 / 1.324717957244746) % 360.0
    return np.stack([rot, tilt, psi], axis=1)


def _check_cube(volume: np.ndarray | torch.Tensor) -> int:
    if volume.ndim != 3 or len(set(volume.shape)) != 1:
        raise EmganError(f"projection needs a cubic (z, y, x) volume, got shape {tuple(volume.shape)}",
                         "volume")
    return int(volume.shape[0])


def _centred_grid(n: int, dtype=torch.float64) -> torch.Tensor:
    return torch.arange(n, dtype=dtype) - n // 2


def project_real(volume, angles, voxel_size: float = 1.0) -> np.ndarray:
    """Real-space projections (m, n, n): trilinear samples of ``V(Aᵀ r)`` summed along z × voxel size.

    ``volume`` (n, n, n) (z, y, x); ``angles`` (m, 3) RELION degrees.
    """
    n = _check_cube(volume)
    vol = torch.as_tensor(np.asarray(volume, dtype=np.float32))[None, None]
    c = _centred_grid(n)
    z, y, x = torch.meshgrid(c, c, c, indexing="ij")
    r = torch.stack([x, y, z], -1).reshape(-1, 3)  # (x, y, z) per sample, z slowest
    out = []
    for a in np.atleast_2d(angles):
        rt = torch.as_tensor(euler_matrix(*a).T)
        q = r @ rt.T  # Aᵀ r
        grid = ((q + n // 2) * (2.0 / (n - 1)) - 1.0).float().reshape(1, n, n, n, 3)
        samples = F.grid_sample(vol, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        out.append(samples[0, 0].sum(0).numpy() * voxel_size)
    return np.stack(out).astype(np.float32)


class FourierProjector:
    """Fourier-slice projector of one volume: the 3D transform is computed once (zero-padded by
    ``oversampling``) and each projection costs one trilinear central slice and a 2D inverse FFT.

    ``project(angles)`` gives (m, n, n) images in the units of :func:`project_real`.
    """

    def __init__(self, volume, voxel_size: float = 1.0, oversampling: int = 2, device: str = "cpu"):
        n = _check_cube(volume)
        if oversampling < 1:
            raise EmganError(f"oversampling must be >= 1, got {oversampling}", "oversampling")
        self.n, self.voxel_size, self.device = n, float(voxel_size), torch.device(device)
        p = n * oversampling
        vol = torch.zeros((p, p, p), dtype=torch.float64, device=self.device)
        s = p // 2 - n // 2
        vol[s:s + n, s:s + n, s:s + n] = torch.as_tensor(np.asarray(volume, dtype=np.float64))
        ft = torch.fft.fftshift(torch.fft.fftn(torch.fft.ifftshift(vol)))  # centre p // 2
        self.p = p
        self.ft = torch.stack([ft.real, ft.imag])[None].float()  # (1, 2, p, p, p)

    def project(self, angles) -> np.ndarray:
        p, n = self.p, self.n
        k = _centred_grid(p, torch.float64).to(self.device)
        ky, kx = torch.meshgrid(k, k, indexing="ij")
        plane = torch.stack([kx, ky, torch.zeros_like(kx)], -1).reshape(-1, 3)
        out = []
        for a in np.atleast_2d(angles):
            rt = torch.as_tensor(euler_matrix(*a).T, device=self.device)
            q = plane @ rt.T
            grid = ((q + p // 2) * (2.0 / (p - 1)) - 1.0).float().reshape(1, 1, p, p, 3)
            vals = F.grid_sample(self.ft, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
            slice2d = torch.complex(vals[0, 0, 0].double(), vals[0, 1, 0].double())
            img = torch.fft.fftshift(torch.fft.ifftn(torch.fft.ifftshift(slice2d))).real
            s = p // 2 - n // 2
            out.append(img[s:s + n, s:s + n].cpu().numpy() * self.voxel_size)
        return np.stack(out).astype(np.float32)


def shift_images(images: np.ndarray, shifts_px: np.ndarray) -> np.ndarray:
    """Shift (m, y, x) images by (m, 2) (dx, dy) pixels with a Fourier phase ramp (periodic)."""
    images = np.asarray(images, dtype=np.float64)
    ny, nx = images.shape[-2:]
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.fftfreq(nx)[None, :]
    shifts = np.asarray(shifts_px, dtype=np.float64).reshape(-1, 2)
    ramp = np.exp(-2j * np.pi * (kx[None] * shifts[:, 0, None, None] + ky[None] * shifts[:, 1, None, None]))
    return np.fft.ifft2(np.fft.fft2(images) * ramp).real.astype(np.float32)
