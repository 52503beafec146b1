"""Zone masks: keep a map's density near an atomic model (ChimeraX ``volume zone``)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..errors import EmganError
from ..io.structures import Atoms
from ..volume import Volume


def zone_mask(volume: Volume, atoms: Atoms, radius: float) -> np.ndarray:
    """Boolean (z, y, x) mask of the voxels whose centre lies within ``radius`` Å of an atom."""
    if not radius > 0:
        raise EmganError(f"zone radius must be positive, got {radius} Å", "zone")
    x, y, z = volume.axis_coordinates()
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    centres = np.stack([xx.ravel(), yy.ravel(), zz.ravel()], axis=1)
    distance, _ = cKDTree(atoms.xyz).query(centres, k=1, distance_upper_bound=radius)
    return np.isfinite(distance).reshape(volume.shape)


def apply_zone(volume: Volume, atoms: Atoms, radius: float) -> Volume:
    """``volume`` with every voxel farther than ``radius`` Å from the model set to 0."""
    return volume.with_data(np.where(zone_mask(volume, atoms, radius), volume.data, 0.0))
