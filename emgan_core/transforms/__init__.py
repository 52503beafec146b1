"""Array transforms that keep geometry: intensity normalisation and resampling between grids."""

from .intensity import normalise
from .resample import resample_to_grid, resample_to_voxel_size

__all__ = ["normalise", "resample_to_grid", "resample_to_voxel_size"]
