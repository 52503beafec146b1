"""Losses in Fourier space between a generated tensor and its target."""

from __future__ import annotations

import functools

import torch

from ..interfaces import Loss


@functools.lru_cache(maxsize=16)
def _shell_index(shape: tuple[int, ...], device: str) -> tuple[torch.Tensor, int]:
    """Integer shell (ring) radius of each FFT sample of a grid of ``shape``, in units of the
    coarsest axis's frequency step, and the number of shells up to that axis's Nyquist."""
    size = min(shape)
    axes = [torch.fft.fftfreq(n, device=device) * size for n in shape]
    radius = torch.sqrt(sum(g ** 2 for g in torch.meshgrid(*axes, indexing="ij")))
    return torch.round(radius).long().flatten(), size // 2


class ShellCorrelationLoss(Loss):
    """1 − the mean Fourier ring (2D) or shell (3D) correlation of output and target.

    Tensors (batch, channels, y, x) or (batch, channels, z, y, x); per image and channel, the
    correlation Re Σ F·G* / √(Σ|F|² Σ|G|²) in each ring of width one frequency step, from the first
    ring up to ``max_shell`` × Nyquist (the mean, ring 0, is left out). The FRC/FSC metrics'
    quantity made a loss: blind to scale and offset, every ring counts the same, so the weak
    high-frequency rings are not drowned by the strong low ones as in a pixel loss.

    Args:
        spatial_dims: 2 (FRC) or 3 (FSC); by default taken from the tensors (their axes after
            batch and channels).
        max_shell: the fraction of Nyquist up to which rings count, in (0, 1].
    """

    def __init__(self, spatial_dims: int | None = None, max_shell: float = 1.0, eps: float = 1e-8):
        if spatial_dims not in (None, 2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if not 0 < max_shell <= 1:
            raise ValueError(f"max_shell must be in (0, 1], got {max_shell}")
        self.spatial_dims, self.max_shell, self.eps = spatial_dims, float(max_shell), float(eps)

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n = self.spatial_dims or output.ndim - 2
        if output.shape != target.shape or output.ndim != n + 2 or n not in (2, 3):
            raise ValueError(f"shell correlation needs two (batch, channels, y, x) or (batch, channels, z, y, x) "
                             f"tensors of one shape, got {tuple(output.shape)} and {tuple(target.shape)}")
        dims = tuple(range(-n, 0))
        f = torch.fft.fftn(output.float(), dim=dims).flatten(-n)
        g = torch.fft.fftn(target.float(), dim=dims).flatten(-n)
        index, nyquist = _shell_index(tuple(output.shape[-n:]), str(output.device))
        shells = max(1, int(round(self.max_shell * nyquist)))
        keep = (index >= 1) & (index <= shells)
        index, f, g = index[keep] - 1, f[..., keep], g[..., keep]

        def per_shell(values: torch.Tensor) -> torch.Tensor:
            out = values.new_zeros(values.shape[:-1] + (shells,))
            return out.index_add_(-1, index, values)

        cross = per_shell((f * g.conj()).real)
        power = per_shell(f.abs() ** 2) * per_shell(g.abs() ** 2)
        return 1.0 - (cross / torch.sqrt(power + self.eps)).mean()
