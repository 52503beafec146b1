"""Array transforms that keep geometry: intensity normalisation, resampling between grids, zone masks."""

from .intensity import normalise
from .resample import fourier_resize, resample_to_grid, resample_to_voxel_size
from .zone import apply_zone, zone_mask

__all__ = ["apply_zone", "fourier_resize", "normalise", "resample_to_grid", "resample_to_voxel_size", "zone_mask"]
