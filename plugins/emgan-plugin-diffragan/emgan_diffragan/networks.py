"""``generator/diffragan-unet``: the core pix2pix U-Net with DiffraGAN's two inputs."""

from __future__ import annotations

from typing import Literal

from emgan_core.networks.unet import UNetGenerator


class DiffraGANUNet(UNetGenerator):
    """(B, 2, y, x) (diffraction pattern, low-res image) → (B, 1, y, x) high-res image, tanh.

    Defaults fit 256×256 images (depth 8: a 1×1 bottleneck); use depth 6 for 64×64.
    ``in_channels`` 3 takes the task's optional phase-extended channel (``task.params.hybrid``).
    """

    def __init__(self, channels: int = 64, depth: int = 8, dropout: float = 0.5, dropout_layers: int = 3,
                 norm: Literal["batch", "instance", "none"] = "batch", in_channels: int = 2):
        super().__init__(in_channels=in_channels, out_channels=1, channels=channels, depth=depth, dropout=dropout,
                         dropout_layers=dropout_layers, norm=norm, spatial_dims=2, output="tanh")
