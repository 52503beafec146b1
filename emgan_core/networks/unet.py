"""pix2pix U-Net generator (Isola et al. 2017), 2D or 3D.

Encoder: ``depth`` 4-wide stride-2 convolutions (C64-C128-C256-C512-C512…, LeakyReLU 0.2, no
normalisation on the first and the innermost); decoder: 4-wide stride-2 transposed convolutions
(ReLU, normalisation, dropout 0.5 in the ``dropout_layers`` innermost), each fed the previous
decoder's output concatenated with the encoder output at the same scale (skip i ↔ n−i); a last
transposed convolution to ``out_channels`` and tanh. Sizes must be divisible by 2^depth: depth 8
for 256×256 images (a 1×1 bottleneck, the paper's), 6 for 64×64.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from ..interfaces import Generator
from ..params import Range
from .patchgan import _norm


class UNetGenerator(Generator):
    """pix2pix U-Net: (B, in_channels, *S) → (B, out_channels, *S) in [-1, 1] (tanh).

    Args:
        in_channels: input channels (2 for DiffraGAN's diffraction pattern and image).
        out_channels: output channels.
        channels: width of the first convolution; doubled per level up to 8× (64 → 512).
        depth: number of down-samplings (8 for 256², 7 for 128², 6 for 64²).
        dropout: dropout rate in the innermost decoders (pix2pix: 0.5; its only noise source).
        dropout_layers: how many of the innermost decoders use dropout (pix2pix: 3).
        norm: ``batch`` (pix2pix), ``instance`` or ``none``.
        spatial_dims: 2 for images (y, x), 3 for volumes (z, y, x).
        output: ``tanh`` (pix2pix) or ``linear``.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, channels: int = 64,
                 depth: Annotated[int, Range(min=1, max=12)] = 8,
                 dropout: float = 0.5, dropout_layers: int = 3,
                 norm: Literal["batch", "instance", "none"] = "batch", spatial_dims: Literal[2, 3] = 2,
                 output: Literal["tanh", "linear"] = "tanh"):
        super().__init__()
        if depth < 1 or channels < 1 or in_channels < 1 or out_channels < 1:
            raise ValueError("depth, channels, in_channels and out_channels must be >= 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if output not in ("tanh", "linear"):
            raise ValueError(f"output must be 'tanh' or 'linear', got {output!r}")
        self.in_channels, self.out_channels, self.spatial_dims = in_channels, out_channels, spatial_dims
        self.depth = depth
        conv = nn.Conv3d if spatial_dims == 3 else nn.Conv2d
        up = nn.ConvTranspose3d if spatial_dims == 3 else nn.ConvTranspose2d
        widths = [channels * min(2 ** i, 8) for i in range(depth)]
        bias = norm != "batch"

        self.down = nn.ModuleList()
        for i, width in enumerate(widths):
            if i == 0:
                self.down.append(conv(in_channels, width, 4, 2, 1))
                continue
            innermost = i == depth - 1
            layers = [nn.LeakyReLU(0.2), conv(widths[i - 1], width, 4, 2, 1, bias=bias or innermost)]
            if not innermost:
                layers.append(_norm(norm, width, spatial_dims))
            self.down.append(nn.Sequential(*layers))

        self.up = nn.ModuleList()  # up[i] produces the scale of down[i]'s input
        for i in range(depth):
            fan_in = widths[i] * (1 if i == depth - 1 else 2)
            if i == 0:
                self.up.append(nn.Sequential(nn.ReLU(), up(fan_in, out_channels, 4, 2, 1),
                                             nn.Tanh() if output == "tanh" else nn.Identity()))
                continue
            layers = [nn.ReLU(), up(fan_in, widths[i - 1], 4, 2, 1, bias=bias),
                      _norm(norm, widths[i - 1], spatial_dims)]
            if dropout and i >= depth - dropout_layers:
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))

    @property
    def size_multiple(self) -> int:
        """Input sizes must be multiples of this (one halving per level)."""
        return 2 ** self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        multiple = 2 ** self.depth
        if any(n % multiple for n in x.shape[2:]):
            raise ValueError(f"U-Net of depth {self.depth} needs sizes divisible by {multiple}, "
                             f"got {tuple(x.shape[2:])}")
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.up[-1](skips[-1])
        for i in range(self.depth - 2, -1, -1):
            x = self.up[i](torch.cat([skips[i], x], 1))
        return x
