"""Whole-input inference: overlapping patches (torchio grid sampler and aggregator), Monte-Carlo dropout."""

from .mc_dropout import dropout_layers, dropout_sampling, mc_dropout
from .patches import PatchInferer, grid_starts, merge_patches, padded_extent, split_patches

__all__ = ["PatchInferer", "dropout_layers", "dropout_sampling", "mc_dropout", "grid_starts", "merge_patches", "padded_extent", "split_patches"]
