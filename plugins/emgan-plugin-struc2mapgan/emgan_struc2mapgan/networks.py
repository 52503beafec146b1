"""struc2mapGAN networks: a 3D nested U-Net (UNet++) generator and a small convolutional critic.

Tensors are (B, 1, z, y, x); the generator keeps the spatial size (a multiple of 2^(levels−1)).
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from emgan_core.api import Critic, Generator, Range


class ResidualBlock(nn.Module):
    """A struc2mapGAN node: ``convs`` × (3³ conv, instance norm), PReLU between them, plus a skip,
    then PReLU. The skip is the input itself when the channel count is kept, else a 3³ convolution
    and instance norm (the authors' model/gan.py: two 3³ convolutions per node and a 3³
    projection on the skip). Instance norm without affine parameters, as theirs, or none (``norm``:
    then a voxel's output does not depend on the box it is computed in). Optional FiLM (scale,
    shift from a conditioning vector) before the skip is added."""

    def __init__(self, cin: int, cout: int, convs: int = 2, film: bool = False, skip_kernel: int = 3,
                 affine: bool = False, norm: str = "instance"):
        super().__init__()
        if convs < 1 or skip_kernel not in (1, 3) or norm not in ("instance", "none"):
            raise ValueError(f"need convs >= 1, skip_kernel 1 or 3 and norm instance or none, got {convs}, "
                             f"{skip_kernel}, {norm!r}")

        def normed(conv):
            return [conv, nn.InstanceNorm3d(cout, affine=affine)] if norm == "instance" else [conv]

        layers: list[nn.Module] = []
        for k in range(convs):
            layers += normed(nn.Conv3d(cin if k == 0 else cout, cout, 3, padding=1))
            if k < convs - 1:
                layers.append(nn.PReLU())
        self.body = nn.Sequential(*layers)
        self.skip = (nn.Sequential(*normed(nn.Conv3d(cin, cout, skip_kernel, padding=skip_kernel // 2)))
                     if cin != cout else nn.Identity())
        self.act = nn.PReLU()
        self.film = nn.Linear(32, 2 * cout) if film else None

    def forward(self, x, cond=None):
        h = self.body(x)
        if self.film is not None and cond is not None:
            gamma, beta = self.film(cond).chunk(2, dim=1)
            h = h * (1 + gamma[:, :, None, None, None]) + beta[:, :, None, None, None]
        return self.act(h + self.skip(x))


class UNetPP3D(Generator):
    """Nested U-Net (Zhou et al. 2018) in 3D, as struc2mapGAN's generator.

    Node X[i][j] (depth i, j-th nested stage) sees the upsampled X[i+1][j−1] and every X[i][k<j];
    down is 2³ max-pooling, up is trilinear (corners aligned, as the authors' code). Output: a
    1×1×1 convolution of X[0][levels−1] with no activation, as the authors' generator: the output
    is not bounded; targets are min–max normalised maps in [0, 1], which the smooth-L1 term pulls
    it towards, and at inference the map is written as the network gives it.

    Args:
        widths: channels per depth, from full resolution down (``levels`` = len(widths)).
            Paper: 32, 64, 128, 256 (10,289,333 parameters with the defaults below, the
            authors' count); smaller for CPU work.
        in_channels: input channels (1: a simulated map).
        convs_per_block: 3×3×3 convolutions per node (2, as the authors).
        skip_kernel: kernel of the skip projection when a node changes the channel count
            (3, as the authors; 1 for a lighter 1×1×1 projection).
        affine_norm: learnable scale and shift in the instance norms (the authors: none).
        resolution_conditioning: FiLM-condition every block on the target resolution (Å), so one
            model produces maps at a requested resolution (pass ``resolution`` to forward).
        norm: ``instance`` (the authors') or ``none``: without normalisation layers a voxel's value
            does not depend on the box around it, so boxes tile seamlessly.
        residual: the output is the sum of the input channels plus the network's correction, whose
            last layer starts at zero: training starts from the simulated map itself.
    """

    def __init__(self, widths: Annotated[list[int], Range(min=1, max=4096)] = (32, 64, 128, 256), in_channels: int = 1,
                 convs_per_block: Annotated[int, Range(min=1, max=8)] = 2, skip_kernel: int = 3, affine_norm: bool = False,
                 resolution_conditioning: bool = False, norm: Literal["instance", "none"] = "instance",
                 residual: bool = False):
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError("widths needs at least two positive channel counts")
        self.widths = widths
        self.levels = len(widths)
        self.in_channels = in_channels
        self.conditioning = "resolution" if resolution_conditioning else None
        film = resolution_conditioning
        self.nodes = nn.ModuleDict()
        for j in range(self.levels):
            for i in range(self.levels - j):
                if j == 0:
                    cin = in_channels if i == 0 else widths[i - 1]
                else:
                    cin = widths[i] * j + widths[i + 1]
                self.nodes[f"{i}_{j}"] = ResidualBlock(cin, widths[i], convs_per_block, film, skip_kernel,
                                                       affine_norm, norm)
        self.pool = nn.MaxPool3d(2)
        self.up = nn.Upsample(scale_factor=2, mode="trilinear", align_corners=True)
        self.head = nn.Conv3d(widths[0], 1, 1)
        self.residual = bool(residual)
        if self.residual:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        self.embed = nn.Sequential(nn.Linear(1, 32), nn.SiLU(), nn.Linear(32, 32)) if film else None

    @property
    def size_multiple(self) -> int:
        """Input sizes must be multiples of this (one halving per level below the first)."""
        return 2 ** (self.levels - 1)

    def forward(self, x: torch.Tensor, resolution: torch.Tensor | None = None) -> torch.Tensor:
        factor = 2 ** (self.levels - 1)
        if any(s % factor for s in x.shape[2:]):
            raise ValueError(f"spatial size {tuple(x.shape[2:])} must be a multiple of {factor}")
        cond = None
        if self.embed is not None:
            if resolution is None:
                raise ValueError("this generator is resolution-conditioned: pass resolution (Å)")
            cond = self.embed(resolution.reshape(-1, 1).to(x.dtype) / 10.0)
        grid: dict[tuple[int, int], torch.Tensor] = {}
        for i in range(self.levels):
            src = x if i == 0 else self.pool(grid[(i - 1, 0)])
            grid[(i, 0)] = self.nodes[f"{i}_0"](src, cond)
        for j in range(1, self.levels):
            for i in range(self.levels - j):
                parts = [grid[(i, k)] for k in range(j)] + [self.up(grid[(i + 1, j - 1)])]
                grid[(i, j)] = self.nodes[f"{i}_{j}"](torch.cat(parts, 1), cond)
        out = self.head(grid[(0, self.levels - 1)])
        return out + x.sum(1, keepdim=True) if self.residual else out


class Struc2mapCritic(Critic):
    """Four stride-2 3D convolutions (instance norm, PReLU), adaptive average pooling, three
    fully-connected layers, one logit per cube (≈1.2 M parameters at the default widths)."""

    def __init__(self, in_channels: int = 1, widths: list[int] = (32, 64, 128, 256),
                 hidden: list[int] = (128, 64)):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        self.depth = len(widths)
        for k, w in enumerate(widths):
            layers += [nn.Conv3d(cin, w, 3, stride=2, padding=1),
                       nn.InstanceNorm3d(w, affine=True) if k else nn.Identity(), nn.PReLU()]
            cin = w
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool3d(1), nn.Flatten())
        dims = [cin, *hidden]
        fc: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            fc += [nn.Linear(a, b), nn.PReLU()]
        self.classifier = nn.Sequential(*fc, nn.Linear(dims[-1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        need = 2 ** self.depth
        if min(x.shape[2:]) < need:
            raise ValueError(f"the critic's {self.depth} stride-2 convolutions need cubes of at least "
                             f"{need} voxels, got {tuple(x.shape[2:])}; use fewer widths or larger patches")
        return self.classifier(self.features(x))
