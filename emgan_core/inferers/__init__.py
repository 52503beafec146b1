"""Whole-input inference by overlapping patches (torchio grid sampler and aggregator)."""

from .patches import PatchInferer, merge_patches, split_patches

__all__ = ["PatchInferer", "merge_patches", "split_patches"]
