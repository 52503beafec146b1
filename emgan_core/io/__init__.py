"""File formats: MRC/CCP4 maps and image stacks (mrcfile), RELION particle STAR files (starfile),
atomic models (gemmi), atomic writes.

Names are imported on first use (PEP 562), so that ``emgan_core.io.atomic`` alone stays light.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "Atoms": "structures", "read_structure": "structures",
    "ParticleTable": "particles", "read_particle_images": "particles", "read_particle_star": "particles",
    "write_particle_star": "particles", "write_star_copy": "particles",
    "atomic_output": "atomic",
    "read_any": "dispatch", "write_any": "dispatch",
    "read_map": "maps", "resolve_origin": "maps", "write_map": "maps",
    "read_image_stack": "stacks", "write_image_stack": "stacks",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
