"""Image stacks (.mrcs, .mrc): (n, y, x) float32 with a pixel size in Å/pixel."""

from __future__ import annotations

import os
from pathlib import Path

import mrcfile
import numpy as np

from ..errors import EmganError
from ..volume import ImageStack
from .atomic import atomic_output
from .maps import _open


def read_image_stack(path: str | os.PathLike, pixel_size: float | None = None) -> ImageStack:
    """Read a stack of 2D images as (n, y, x) float32 (float16 files are widened).

    ``pixel_size`` (Å/pixel) overrides the header; it is required when the header has none
    (voxel size 0, common for particle stacks whose STAR file carries the pixel size).
    """
    path = Path(path)
    where = str(path)
    mrc, _notes = _open(path)
    try:
        data = mrc.data
        if data.ndim == 2:
            data = data[None]
        if data.ndim != 3:
            raise EmganError(f"expected a stack of 2D images, got data of shape {data.shape} "
                             f"(space group {int(mrc.header.ispg)}: a stack of volumes?)", where)
        header_pixel = float(mrc.header.cella.x) / float(mrc.header.mx) if mrc.header.mx > 0 else 0.0
        array = np.array(data, dtype=np.float32)
    finally:
        mrc.close()
    if pixel_size is None:
        if not (np.isfinite(header_pixel) and header_pixel > 0):
            raise EmganError(
                f"header has no pixel size (voxel size {header_pixel:g}); pass it explicitly, e.g. from the STAR "
                "file's rlnImagePixelSize",
                where,
            )
        pixel_size = header_pixel
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise EmganError(f"stack contains {bad} NaN or infinite values", where)
    return ImageStack(array, pixel_size=pixel_size)


def write_image_stack(path: str | os.PathLike, stack: ImageStack, overwrite: bool | None = None) -> Path:
    """Write ``stack`` atomically as an MRC image stack (ISPG 0, float32); an existing file is
    replaced only with ``overwrite`` (default: the command's ``--overwrite``)."""
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        with mrcfile.new(str(tmp), overwrite=True) as mrc:
            mrc.set_data(np.ascontiguousarray(stack.data, dtype=np.float32))
            mrc.set_image_stack()
            mrc.voxel_size = (stack.pixel_size, stack.pixel_size, stack.pixel_size)
            mrc.update_header_stats()
    return path
