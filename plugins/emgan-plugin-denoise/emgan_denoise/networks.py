"""``generator/denoise-unet`` and ``critic/denoise-patchgan``: the core pix2pix networks with the
particle-denoising paper's settings, on one-channel (y, x) particle images."""

from __future__ import annotations

from typing import Annotated, Literal

from emgan_core.api import PatchGANCritic, Range, UNetGenerator


class DenoiseUNet(UNetGenerator):
    """(B, 1, y, x) noisy particle → (B, 1, y, x) clean projection, tanh output (the task divides
    targets by ``scale`` standard deviations of the noisy image for headroom).

    Defaults are the paper's: 8 levels of 64 channels (256² particles reach a 1×1 bottleneck),
    dropout 0.5 in the 3 innermost decoder levels, batch norm. Image sizes must be multiples of
    2^depth.
    """

    def __init__(self, channels: int = 64, depth: Annotated[int, Range(min=1, max=12)] = 8, dropout: float = 0.5,
                 dropout_layers: int = 3,
                 norm: Literal["batch", "instance", "none"] = "batch"):
        super().__init__(in_channels=1, out_channels=1, channels=channels, depth=depth, dropout=dropout,
                         dropout_layers=dropout_layers, norm=norm, spatial_dims=2, output="tanh")


class DenoisePatchGAN(PatchGANCritic):
    """(B, 2, y, x) (noisy, clean or denoised) → patch logits; the paper's 70×70 PatchGAN (3 strided
    layers of 64–256 channels)."""

    def __init__(self, channels: int = 64, layers: Annotated[int, Range(min=0, max=8)] = 3):
        super().__init__(in_channels=2, channels=channels, layers=layers, spatial_dims=2)
