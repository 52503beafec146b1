"""CryoETGAN networks (Wu et al. 2022): the CycleGAN ResNet generator with a noise channel, its
PatchGAN critic with spectral normalisation, and a small CNN classifier for FID/IS and accuracy.

Tensors are (B, C, z, y, x) (or (B, C, y, x) with ``spatial_dims=2``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from emgan_core.api import Classifier, Critic, Generator, Range


def _layers(spatial_dims: int):
    if spatial_dims == 3:
        return nn.Conv3d, nn.ConvTranspose3d, nn.InstanceNorm3d, nn.ReflectionPad3d, nn.Dropout3d
    return nn.Conv2d, nn.ConvTranspose2d, nn.InstanceNorm2d, nn.ReflectionPad2d, nn.Dropout2d


class ResidualBlock(nn.Module):
    """R-k: two reflection-padded 3-wide convolutions with instance norm, ReLU between, identity skip."""

    def __init__(self, channels: int, spatial_dims: int, dropout: float = 0.0):
        super().__init__()
        conv, _, norm, pad, drop = _layers(spatial_dims)
        self.body = nn.Sequential(pad(1), conv(channels, channels, 3), norm(channels), nn.ReLU(True),
                                  *([drop(dropout)] if dropout else []),
                                  pad(1), conv(channels, channels, 3), norm(channels))

    def forward(self, x):
        return x + self.body(x)


class CycleGenerator(Generator):
    """c7s1-w, d2w, d4w, n × R4w, [noise], u2w, uw, c7s1-out, tanh (w = ``channels``, 32 in the paper).

    Args:
        channels: width of the first convolution. residual_blocks: number of R blocks (6).
        noise: concatenate one channel of N(0, 1) noise after the residual blocks (4w + 1 channels
            into the first up-sampling), so one input maps to many outputs.
        dropout: channel dropout inside the residual blocks (enables Monte-Carlo dropout maps).
        spatial_dims: 3 for subtomograms, 2 for images. Spatial sizes must be multiples of 4.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, channels: int = 32,
                 residual_blocks: Annotated[int, Range(min=0, max=64)] = 6, noise: bool = True, dropout: float = 0.0,
                 spatial_dims: Literal[2, 3] = 3):
        super().__init__()
        if channels < 1 or residual_blocks < 0 or not 0 <= dropout < 1:
            raise ValueError("channels >= 1, residual_blocks >= 0 and 0 <= dropout < 1 required")
        conv, up, norm, pad, _ = _layers(spatial_dims)
        self.spatial_dims, self.in_channels, self.out_channels = spatial_dims, in_channels, out_channels
        self.noise = bool(noise)
        w = channels

        def block(c_in, c_out, **kw):
            return [conv(c_in, c_out, 3, padding=1, **kw), norm(c_out), nn.ReLU(True)]

        self.encoder = nn.Sequential(pad(3), conv(in_channels, w, 7), norm(w), nn.ReLU(True),
                                     *block(w, 2 * w, stride=2), *block(2 * w, 4 * w, stride=2),
                                     *(ResidualBlock(4 * w, spatial_dims, dropout) for _ in range(residual_blocks)))
        self.decoder = nn.Sequential(
            up(4 * w + self.noise, 2 * w, 3, stride=2, padding=1, output_padding=1), norm(2 * w), nn.ReLU(True),
            up(2 * w, w, 3, stride=2, padding=1, output_padding=1), norm(w), nn.ReLU(True),
            pad(3), conv(w, out_channels, 7), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(n % 4 for n in x.shape[2:]):
            raise ValueError(f"spatial size {tuple(x.shape[2:])} must be a multiple of 4")
        h = self.encoder(x)
        if self.noise:
            h = torch.cat([h, torch.randn_like(h[:, :1])], 1)
        return self.decoder(h)


class CycleCritic(Critic):
    """The paper's critic: C64-C128-C256, each Ck a 4-wide convolution at stride 1 (padding 1), instance
    norm and LeakyReLU 0.2, spectral normalisation on every convolution (Wu et al. 2022, section 2.6).

    The paper names no read-out, but a Wasserstein critic must give scores: a spectrally normalised
    1-wide convolution (a linear map of the last layer's channels at each position, which adds nothing
    to the receptive field) gives one score per patch; the adversarial loss averages them.
    Receptive field: 1 + 3·``layers`` voxels (10 for the paper's three layers); each layer shrinks the
    box by one voxel per axis, so a 16³ input gives 13³ scores.

    Args:
        channels: width of the first layer (64), doubled per layer. layers: number of Ck (3).
        spatial_dims: 3 (z, y, x) or 2 (y, x). spectral_norm: on every convolution (the paper: yes).
    """

    def __init__(self, in_channels: int = 1, channels: int = 64, layers: Annotated[int, Range(min=1, max=8)] = 3,
                 spatial_dims: Literal[2, 3] = 3, spectral_norm: bool = True):
        super().__init__()
        if in_channels < 1 or channels < 1 or layers < 1:
            raise ValueError("in_channels, channels and layers must be >= 1")
        conv, _, norm, _, _ = _layers(spatial_dims)
        self.spatial_dims = spatial_dims
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        blocks, width = [], in_channels
        for i in range(layers):
            out = channels * 2 ** i
            blocks += [sn(conv(width, out, 4, stride=1, padding=1)), norm(out), nn.LeakyReLU(0.2, True)]
            width = out
        blocks.append(sn(conv(width, 1, 1)))
        self.body = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class SubtomogramClassifier(Classifier):
    """``depth`` × (3-wide convolution, group norm, ReLU, 2× max-pool), widths doubling from
    ``channels``; global average pooling gives the embedding (``channels`` · 2^(depth−1) features),
    then dropout and a linear layer give the class logits."""

    def __init__(self, n_classes: int = 4, in_channels: int = 1, channels: int = 16, depth: int = 3,
                 dropout: float = 0.3, spatial_dims: Literal[2, 3] = 3):
        super().__init__()
        if n_classes < 2 or depth < 1 or channels < 1:
            raise ValueError("n_classes >= 2, depth >= 1 and channels >= 1 required")
        conv = nn.Conv3d if spatial_dims == 3 else nn.Conv2d
        pool = nn.MaxPool3d if spatial_dims == 3 else nn.MaxPool2d
        self.spatial_dims, self.n_classes = spatial_dims, int(n_classes)
        layers, c_in = [], in_channels
        for i in range(depth):
            c_out = channels * 2 ** i
            layers += [conv(c_in, c_out, 3, padding=1, bias=False), nn.GroupNorm(min(4, c_out), c_out), nn.ReLU(True),
                       pool(2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.embedding_size = c_in
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c_in, n_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(2).mean(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))
