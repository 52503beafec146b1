"""Values that carry their geometry: :class:`Volume` (3D maps) and :class:`ImageStack` (2D stacks).

Axis conventions, used everywhere in emgan:

* ``Volume.data`` is float32 in **(z, y, x)** order (sections, rows, columns).
* ``voxel_size`` and ``origin`` are in Å and in **(x, y, z)** order, like atomic coordinates and
  the MRC header. The world position (Å) of voxel ``data[k, j, i]`` is
  ``origin + (i, j, k) * voxel_size``.
* ``ImageStack.data`` is float32 in **(n, y, x)** order; ``pixel_size`` is Å/pixel.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


def _triple(value, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 3)
    if arr.size != 3:
        raise ValueError(f"{name} needs 1 or 3 values (x, y, z), got {arr.size}")
    return arr


@dataclass
class Volume:
    """A 3D map: ``data`` (z, y, x) float32, ``voxel_size`` (x, y, z) Å, ``origin`` (x, y, z) Å.

    ``start`` keeps the MRC N*START indices (x, y, z, voxels) as read, so that a map written back
    keeps them; ``origin`` is the resolved world position of voxel (0, 0, 0)
    (see :func:`emgan_core.io.maps.resolve_origin`).
    """

    data: np.ndarray
    voxel_size: np.ndarray = field(default_factory=lambda: np.ones(3))
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    start: tuple[int, int, int] = (0, 0, 0)
    #: MRC (CELLA (x, y, z) Å, MX, MY, MZ) as read; reused on writing while it still gives
    #: ``voxel_size`` exactly, so that crystallographic cells (MX != NX) survive a round trip.
    cell: tuple[tuple[float, float, float], tuple[int, int, int]] | None = field(default=None, repr=False)

    def __post_init__(self):
        self.data = np.asarray(self.data, dtype=np.float32)
        if self.data.ndim != 3:
            raise ValueError(f"Volume data must be 3D (z, y, x), got shape {self.data.shape}")
        self.voxel_size = _triple(self.voxel_size, "voxel_size")
        self.origin = _triple(self.origin, "origin")
        if np.any(self.voxel_size <= 0):
            raise ValueError(f"voxel size must be positive, got {self.voxel_size.tolist()} Å")
        self.start = tuple(int(v) for v in self.start)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (nz, ny, nx)."""
        return tuple(self.data.shape)

    @property
    def extent(self) -> np.ndarray:
        """Physical size (x, y, z) in Å: shape × voxel size."""
        return np.array(self.data.shape[::-1], dtype=np.float64) * self.voxel_size

    def axis_coordinates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World coordinates (Å) of voxel centres along x, y and z."""
        return tuple(
            self.origin[a] + np.arange(self.data.shape[2 - a]) * self.voxel_size[a] for a in range(3)
        )

    def with_data(self, data: np.ndarray) -> "Volume":
        """Same geometry, new values (shape must match)."""
        data = np.asarray(data, dtype=np.float32)
        if data.shape != self.data.shape:
            raise ValueError(f"new data shape {data.shape} differs from {self.data.shape}")
        return replace(self, data=data)

    def same_grid(self, other: "Volume", atol: float = 1e-4) -> bool:
        """True when both volumes have the same shape, voxel size and origin."""
        return (
            self.shape == other.shape
            and np.allclose(self.voxel_size, other.voxel_size, atol=atol)
            and np.allclose(self.origin, other.origin, atol=atol)
        )


@dataclass
class ImageStack:
    """A stack of 2D images: ``data`` (n, y, x) float32 and ``pixel_size`` in Å/pixel."""

    data: np.ndarray
    pixel_size: float = 1.0

    def __post_init__(self):
        data = np.asarray(self.data, dtype=np.float32)
        if data.ndim == 2:
            data = data[None]
        if data.ndim != 3:
            raise ValueError(f"ImageStack data must be (n, y, x), got shape {data.shape}")
        self.data = data
        self.pixel_size = float(self.pixel_size)
        if not self.pixel_size > 0:
            raise ValueError(f"pixel size must be positive, got {self.pixel_size} Å/pixel")

    def __len__(self) -> int:
        return self.data.shape[0]
