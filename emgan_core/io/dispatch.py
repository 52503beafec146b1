"""Read or write a map or an image stack, chosen by file suffix or value type."""

from __future__ import annotations

import os

from ..volume import ImageStack, Volume
from .maps import read_map, write_map
from .stacks import read_image_stack, write_image_stack

STACK_SUFFIXES = (".mrcs",)


def read_any(path: str | os.PathLike, pixel_size: float | None = None) -> Volume | ImageStack:
    """A .mrcs file as ImageStack (``pixel_size`` Å/pixel overrides the header), anything else as a map."""
    if str(path).lower().endswith(STACK_SUFFIXES):
        return read_image_stack(path, pixel_size)
    return read_map(path)


def write_any(value: Volume | ImageStack, path: str | os.PathLike, overwrite: bool | None = None) -> None:
    """Write a Volume as an MRC map or an ImageStack as an .mrcs stack, atomically."""
    if isinstance(value, ImageStack):
        write_image_stack(path, value, overwrite=overwrite)
    elif isinstance(value, Volume):
        write_map(path, value, overwrite=overwrite)
    else:
        raise TypeError(f"cannot write {type(value).__name__}: expected a Volume or an ImageStack")
