"""Network building blocks shared by several methods."""

from .patchgan import PatchGANCritic
from .unet import UNetGenerator

__all__ = ["PatchGANCritic", "UNetGenerator"]
