"""File formats: MRC/CCP4 maps and image stacks (mrcfile), RELION particle STAR files (starfile),
atomic models (gemmi), atomic writes."""

from .atomic import atomic_output
from .dispatch import read_any, write_any
from .maps import read_map, resolve_origin, write_map
from .particles import (ParticleTable, read_particle_images, read_particle_star, write_particle_star,
                        write_star_copy)
from .stacks import read_image_stack, write_image_stack
from .structures import Atoms, read_structure

__all__ = [
    "Atoms",
    "ParticleTable",
    "atomic_output",
    "read_any",
    "read_image_stack",
    "read_map",
    "read_particle_images",
    "read_particle_star",
    "read_structure",
    "resolve_origin",
    "write_any",
    "write_image_stack",
    "write_map",
    "write_particle_star",
    "write_star_copy",
]
