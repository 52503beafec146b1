"""A toy generator: a residual stack of convolutions that keeps the input's spatial size."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from emgan_core.api import Generator, Range


class ToyConvGenerator(Generator):
    """(B, 1, *spatial) -> (B, 1, *spatial): input + a small convolutional correction.

    Args:
        channels: hidden channels.
        depth: number of hidden convolutions.
        spatial_dims: 2 for images (y, x), 3 for volumes (z, y, x).
    """

    def __init__(self, channels: int = 8, depth: Annotated[int, Range(min=1, max=16)] = 2,
                 spatial_dims: Literal[2, 3] = 3):
        super().__init__()
        if channels < 1 or depth < 1:
            raise ValueError("channels and depth must be at least 1")
        self.spatial_dims = spatial_dims
        conv = nn.Conv3d if spatial_dims == 3 else nn.Conv2d
        layers: list[nn.Module] = [conv(1, channels, 3, padding=1), nn.PReLU()]
        for _ in range(depth - 1):
            layers += [conv(channels, channels, 3, padding=1), nn.PReLU()]
        layers.append(conv(channels, 1, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)
