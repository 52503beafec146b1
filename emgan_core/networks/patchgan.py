"""PatchGAN critic (Isola et al. 2017, pix2pix): a map of real/fake logits, one per input patch."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from ..interfaces import Critic
from ..params import Range


def _norm(kind: str, channels: int, spatial_dims: int) -> nn.Module:
    if kind == "instance":
        return (nn.InstanceNorm3d if spatial_dims == 3 else nn.InstanceNorm2d)(channels, affine=True)
    if kind == "batch":
        return (nn.BatchNorm3d if spatial_dims == 3 else nn.BatchNorm2d)(channels)
    return nn.Identity()


class PatchGANCritic(Critic):
    """Strided 4-wide convolutions, LeakyReLU 0.2, normalisation after the first; logits per patch.

    Receptive field: 16 px with ``layers=1`` (the default), 34 with 2, 70 with 3 (pix2pix).
    Output: (B, 1, *patches) logits; the adversarial loss averages them.

    Args:
        in_channels: channels of what is judged (input and output stacked for a conditional GAN).
        channels: width of the first convolution, doubled per layer up to 8×.
        layers: number of stride-2 convolutions after the first.
        spatial_dims: 2 for images (y, x), 3 for volumes (z, y, x).
        norm: ``instance``, ``batch`` or ``none``.
        spectral_norm: spectral normalisation (Miyato et al. 2018) on every convolution.
    """

    def __init__(self, in_channels: int = 2, channels: int = 64, layers: Annotated[int, Range(min=0, max=8)] = 1,
                 spatial_dims: Literal[2, 3] = 2, norm: Literal["instance", "batch", "none"] = "batch",
                 spectral_norm: bool = False):
        super().__init__()
        if in_channels < 1 or channels < 1 or layers < 0:
            raise ValueError("in_channels and channels must be >= 1, layers >= 0")
        self.spatial_dims = spatial_dims
        conv = nn.Conv3d if spatial_dims == 3 else nn.Conv2d
        blocks: list[nn.Module] = [conv(in_channels, channels, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = channels
        for i in range(1, layers + 1):
            out = channels * min(2 ** i, 8)
            stride = 2 if i < layers else 1
            blocks += [conv(width, out, 4, stride, 1, bias=norm != "batch"), _norm(norm, out, spatial_dims),
                       nn.LeakyReLU(0.2, True)]
            width = out
        blocks.append(conv(width, 1, 4, 1, 1))
        if spectral_norm:
            blocks = [nn.utils.parametrizations.spectral_norm(b) if isinstance(b, conv) else b for b in blocks]
        self.body = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
