"""Zone masks: keep a map's density near an atomic model (ChimeraX ``volume zone``)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..errors import EmganError
from ..io.structures import Atoms
from ..volume import Volume


def atom_distance(volume: Volume, xyz: np.ndarray, reach: float) -> np.ndarray:
    """(z, y, x) distance (Å) from each voxel centre of ``volume`` to the nearest atom of ``xyz``
    ((n, 3) Å, x-y-z order), exact (a k-d tree); inf where no atom lies within ``reach`` Å."""
    x, y, z = volume.axis_coordinates()
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    centres = np.stack([xx.ravel(), yy.ravel(), zz.ravel()], axis=1)
    distance, _ = cKDTree(np.asarray(xyz)).query(centres, k=1, distance_upper_bound=reach)
    return distance.reshape(volume.shape)


def zone_mask(volume: Volume, atoms: Atoms, radius: float) -> np.ndarray:
    """Boolean (z, y, x) mask of the voxels whose centre lies within ``radius`` Å of an atom."""
    if not radius > 0:
        raise EmganError(f"zone radius must be positive, got {radius} Å", "zone")
    return np.isfinite(atom_distance(volume, atoms.xyz, radius))


def soft_mask(volume: Volume, xyz: np.ndarray, radius: float, edge: float) -> np.ndarray:
    """Mask on ``volume``'s voxel centres, (z, y, x) float32: 1 where the nearest atom (``xyz``, Å,
    (x, y, z)) is within ``radius`` Å, 0.5·(1 + cos(π (d − radius) / edge)) for d up to
    radius + ``edge`` Å, 0 beyond (``phenix.map_box`` with its model and a soft edge); ``edge`` = 0
    gives a binary mask (1 for d ≤ radius)."""
    if radius < 0 or edge < 0:
        raise EmganError(f"mask radius and edge must be ≥ 0 Å, got {radius} and {edge}", "mask")
    dist = atom_distance(volume, xyz, radius + edge + 1e-6)
    if edge > 0:
        mask = 0.5 * (1 + np.cos(np.pi * np.clip((dist - radius) / edge, 0, 1)))
    else:
        mask = (dist <= radius).astype(float)
    mask[~np.isfinite(dist)] = 0.0
    return mask.astype(np.float32)


def apply_zone(volume: Volume, atoms: Atoms, radius: float) -> Volume:
    """``volume`` with every voxel farther than ``radius`` Å from the model set to 0."""
    return volume.with_data(np.where(zone_mask(volume, atoms, radius), volume.data, 0.0))
