"""Whole-input inference: overlapping patches (torchio grid sampler and aggregator), stacks of whole
samples in batches, Monte-Carlo dropout."""

from .batches import BatchInferer
from .mc_dropout import dropout_layers, dropout_sampling, mc_dropout
from .patches import PatchInferer, grid_starts, merge_patches, padded_extent, split_patches

__all__ = ["BatchInferer", "PatchInferer", "dropout_layers", "dropout_sampling", "mc_dropout", "grid_starts",
           "merge_patches", "padded_extent", "split_patches"]
