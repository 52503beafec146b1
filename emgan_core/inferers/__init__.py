"""Whole-input inference by overlapping patches (torchio grid sampler and aggregator)."""

from .patches import PatchInferer, grid_starts, merge_patches, padded_extent, split_patches

__all__ = ["PatchInferer", "grid_starts", "merge_patches", "padded_extent", "split_patches"]
