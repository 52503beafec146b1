"""File formats: MRC/CCP4 maps and image stacks (mrcfile), atomic models (gemmi), atomic writes."""

from .atomic import atomic_output
from .dispatch import read_any, write_any
from .maps import read_map, resolve_origin, write_map
from .stacks import read_image_stack, write_image_stack
from .structures import Atoms, read_structure

__all__ = [
    "Atoms",
    "atomic_output",
    "read_any",
    "read_image_stack",
    "read_map",
    "read_structure",
    "resolve_origin",
    "write_any",
    "write_image_stack",
    "write_map",
]
