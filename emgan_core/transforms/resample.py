"""Resampling: a map onto another axis-aligned grid (ChimeraX ``vol resample onGrid``), trilinear;
periodic images by Fourier cropping/padding.

Both grids are axis-aligned, so trilinear interpolation is separable: the map is interpolated
along x, then y, then z. Memory stays at a few copies of the larger map; nothing is (n, 3).
Points outside the source map get ``outside`` (0 by default, as ChimeraX).
"""

from __future__ import annotations

import numpy as np
import torch

from ..volume import Volume


def _interp_axis(data: torch.Tensor, dim: int, positions: np.ndarray, outside: float) -> torch.Tensor:
    """Linear interpolation of ``data`` along ``dim`` at fractional indices ``positions``."""
    n = data.shape[dim]
    pos = torch.as_tensor(positions, dtype=torch.float64)
    i0 = torch.floor(pos).long()
    t = (pos - i0).to(data.dtype)
    valid = (pos >= -1e-6) & (pos <= n - 1 + 1e-6)
    i0c = i0.clamp(0, n - 1)
    i1c = (i0 + 1).clamp(0, n - 1)
    a = data.index_select(dim, i0c)
    b = data.index_select(dim, i1c)
    shape = [1] * data.dim()
    shape[dim] = -1
    t = t.view(shape)
    out = torch.lerp(a, b, t)
    if not bool(valid.all()):
        out = torch.where(valid.view(shape), out, torch.full_like(out, outside))
    return out


def resample_to_grid(volume: Volume, grid: Volume, outside: float = 0.0) -> Volume:
    """Values of ``volume`` at the voxel centres of ``grid`` (its shape, voxel size, origin)."""
    if volume.same_grid(grid, atol=1e-6):
        return grid.with_data(volume.data.copy())
    data = torch.tensor(volume.data, dtype=torch.float32)
    for axis, dim in ((0, 2), (1, 1), (2, 0)):  # x is array dim 2, z is dim 0
        n_target = grid.shape[dim]
        world = grid.origin[axis] + np.arange(n_target) * grid.voxel_size[axis]
        positions = (world - volume.origin[axis]) / volume.voxel_size[axis]
        data = _interp_axis(data, dim, positions, outside)
    return grid.with_data(data.numpy())


def resample_to_voxel_size(volume: Volume, voxel_size: float) -> Volume:
    """Resample onto a grid of ``voxel_size`` Å covering the same extent, same origin."""
    extent = (np.array(volume.shape[::-1]) - 1) * volume.voxel_size
    shape_xyz = np.floor(extent / voxel_size + 1e-6).astype(int) + 1
    grid = Volume(np.zeros(shape_xyz[::-1], np.float32), voxel_size=voxel_size, origin=volume.origin)
    return resample_to_grid(volume, grid)


def fourier_resize(images: np.ndarray, size: int) -> np.ndarray:
    """Resize periodic (…, n, n) images to (…, size, size) by cropping or zero-padding their centred
    spectrum: band-limited and exact for periodic content, mean preserved; an even output drops its Nyquist row and column. The field of view is
    unchanged, so the pixel size becomes n / size times the old one."""
    images = np.asarray(images, dtype=np.float64)
    n = images.shape[-1]
    if images.shape[-2] != n:
        raise ValueError(f"fourier_resize needs square images, got {images.shape[-2:]}")
    if size == n:
        return images.copy()
    spectrum = np.fft.fftshift(np.fft.fft2(images), axes=(-2, -1))
    out = np.zeros(images.shape[:-2] + (size, size), dtype=complex)
    m = min(n, size)
    src = slice(n // 2 - m // 2, n // 2 - m // 2 + m)
    dst = slice(size // 2 - m // 2, size // 2 - m // 2 + m)
    out[..., dst, dst] = spectrum[..., src, src]
    if size < n and size % 2 == 0:  # the lone Nyquist row/column has no partner: drop it (no checkerboard)
        out[..., 0, :] = 0.0
        out[..., :, 0] = 0.0
    return np.fft.ifft2(np.fft.ifftshift(out, axes=(-2, -1))).real * (size * size) / (n * n)
