"""Network building blocks shared by several methods."""

from .patchgan import PatchGANCritic

__all__ = ["PatchGANCritic"]
