"""SuperEM / EM-GAN networks: a 3D SRResNet generator and a 10-convolution critic.

Tensors are (B, 1, z, y, x), densities in [0, 1] on 1 Å voxels. Every convolution has stride 1 in
the generator, so the output cube has the input's size.

Two variants of the generator exist. The published weights (``emgan superem import-weights``) need
the ``published`` structure, the recipe default: a 9×9×9 first convolution, residual blocks whose
convolutions are dilated 1,1,1,2,2,2,4,4,4,8,8,8,16,16,16 and ordered convolution → PReLU → batch
norm → convolution → batch norm → dropout. The paper describes the SRGAN block (convolution →
normalisation → PReLU → convolution → normalisation) without dilation: ``dilations: 1`` and
``block_order: srgan``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from emgan_core.api import Critic, Generator, Range

PUBLISHED_DILATIONS = (1, 1, 1, 2, 2, 2, 4, 4, 4, 8, 8, 8, 16, 16, 16)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm3d(channels)
    if kind == "instance":
        return nn.InstanceNorm3d(channels, affine=True)
    return nn.GroupNorm(min(8, channels), channels)


class ResidualBlock(nn.Module):
    """x + dropout(norm2(conv2(…conv1(x)…))), two 3×3×3 convolutions of equal width and dilation."""

    def __init__(self, channels: int, dilation: int, norm: str, dropout: float, order: str):
        super().__init__()
        self.conv1 = nn.Conv3d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.act = nn.PReLU()
        self.norm1 = _norm(norm, channels)
        self.conv2 = nn.Conv3d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.norm2 = _norm(norm, channels)
        self.dropout = nn.Dropout(dropout)
        self.order = order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.conv1(x)
        r = self.norm1(self.act(r)) if self.order == "published" else self.act(self.norm1(r))
        r = self.norm2(self.conv2(r))
        return x + self.dropout(r)


class SRResNet3D(Generator):
    """3D SRResNet (SuperEM): head → residual blocks → fuse (+ head, global skip) → tail → (tanh+1)/2.

    Args:
        channels: width of every layer (32).
        blocks: number of residual blocks (15).
        head_kernel: kernel of the first convolution (9, published; the paper leaves it unstated).
        dilations: ``published`` (1,1,1,2,2,2,…,16,16,16 for 15 blocks), one int for all blocks, or a
            list with one value per block.
        block_order: ``published`` (conv → PReLU → norm) or ``srgan`` (conv → norm → PReLU).
        norm: ``batch`` (published), ``instance`` or ``group``.
        dropout: inside each residual block (0.25); active in training and for Monte-Carlo dropout.
        residual_output: predict a correction to the input, ``clamp(x + tanh(y), 0, 1)``, with the
            last convolution starting at zero, so training starts from the identity (not in the
            paper; quick fine-tuning and small runs converge far faster). Off for the published
            weights.
    """

    def __init__(self, channels: int = 32, blocks: Annotated[int, Range(min=0, max=100)] = 15, head_kernel: int = 9,
                 dilations: str | int | list[int] = "published",
                 block_order: Literal["published", "srgan"] = "published",
                 norm: Literal["batch", "instance", "group"] = "batch", dropout: float = 0.25,
                 residual_output: bool = False):
        super().__init__()
        if channels < 1 or blocks < 0 or head_kernel < 1 or head_kernel % 2 == 0:
            raise ValueError("channels >= 1, blocks >= 0 and an odd head_kernel are required")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if dilations == "published":
            dil = [PUBLISHED_DILATIONS[min(i, 14)] if blocks == 15 else 2 ** (i // 3) for i in range(blocks)]
        elif isinstance(dilations, int):
            dil = [dilations] * blocks
        elif isinstance(dilations, (list, tuple)) and len(dilations) == blocks:
            dil = [int(d) for d in dilations]
        else:
            raise ValueError(f"dilations must be 'published', an int, or {blocks} ints; got {dilations!r}")
        if any(d < 1 for d in dil):
            raise ValueError("dilations must be >= 1")
        self.dilations = tuple(dil)
        self.head = nn.Sequential(nn.Conv3d(1, channels, head_kernel, padding=head_kernel // 2), nn.PReLU())
        self.blocks = nn.Sequential(*[ResidualBlock(channels, d, norm, dropout, block_order) for d in dil])
        self.fuse = nn.Sequential(nn.Conv3d(channels, channels, 3, padding=1), nn.PReLU())
        self.tail = nn.Sequential(nn.Conv3d(channels, 1, 3, padding=1), nn.PReLU())
        self.residual_output = bool(residual_output)
        if self.residual_output:
            nn.init.zeros_(self.tail[0].weight)
            nn.init.zeros_(self.tail[0].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        y = self.tail(h + self.fuse(self.blocks(h)))
        if self.residual_output:
            return (x + torch.tanh(y)).clamp(0.0, 1.0)
        return (torch.tanh(y) + 1) / 2


class SuperEMCritic(Critic):
    """10 3D convolutions (SuperEM): pairs of (3×3×3 stride 1, 3×3×3 stride 2) at 32, 64, 128, 256
    channels, then 512 and a 1×1×1 convolution to one logit per output voxel. PReLU after each,
    group normalisation (16 groups) after all but the first and the ninth, dropout 0.25 after each
    strided convolution and the ninth. Logits (B, 1, z', y', x'); the paper's probability is their
    sigmoid, averaged.
    """

    def __init__(self, channels: int = 32, dropout: float = 0.25, groups: int = 16):
        super().__init__()
        if channels < 1 or channels % groups:
            raise ValueError(f"channels ({channels}) must be a positive multiple of groups ({groups})")
        layers: list[nn.Module] = [nn.Conv3d(1, channels, 3, 1, 1), nn.PReLU()]
        width = channels
        for level in range(4):
            out = channels * 2 ** level
            if level:
                layers += [nn.Conv3d(width, out, 3, 1, 1), nn.GroupNorm(groups, out), nn.PReLU()]
            layers += [nn.Conv3d(out, out, 3, 2, 1), nn.GroupNorm(groups, out), nn.PReLU(), nn.Dropout(dropout)]
            width = out
        layers += [nn.Conv3d(width, width * 2, 3, 1, 1), nn.PReLU(), nn.Dropout(dropout),
                   nn.Conv3d(width * 2, 1, 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
