"""One subtomogram of a structure, its clean density and, on request, a figure of slices of both
(``emgan cryoetgan simulate``)."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np

from emgan_core.api import check_output, read_structure, simulator_from, write_map


def density_path(output) -> Path:
    """Where the density of the subtomogram at ``output`` goes: ``NAME_density.mrc`` beside it."""
    out = Path(output)
    return out.with_name(out.name.split(".")[0] + "_density" + "".join(out.suffixes))


def simulate_subtomogram(structure, output, recipe: str | None = None, settings: list[str] = (), png=None,
                         angles=None, seed: int = 0):
    """A subtomogram of ``structure`` (RELION Euler ``angles`` in degrees, default random; orientation,
    shift and noise from ``seed``) written to ``output``, its density to :func:`density_path` and, with
    ``png``, XY/XZ central slices of the density, the subtomogram and the same reconstruction without
    noise. The ``simulator/subtomogram`` is the ``recipe``'s (if any) with ``settings`` (KEY=VALUE
    words) applied. Returns (sample, simulator, seconds the simulation took)."""
    from .figures import slices_figure

    out = check_output(output)
    density = check_output(density_path(out))
    if png:
        check_output(png)
    sim = simulator_from("subtomogram", recipe, list(settings), "cryoetgan simulate")
    atoms = read_structure(structure)
    t0 = time.perf_counter()
    sample = sim.sample(atoms, np.random.default_rng(seed), angles=angles)
    seconds = time.perf_counter() - t0
    write_map(density, sample.density)
    write_map(out, sample.subtomogram)
    if png:
        noiseless = copy.copy(sim)
        noiseless.snr = None
        clean = noiseless.corrupt(sample.density.data, np.random.default_rng(seed))
        slices_figure({"density": sample.density.data, "subtomogram": sample.subtomogram.data,
                       "without noise": clean}, sim.voxel_size,
                      png, f"{Path(structure).stem}, {sim.method}, ±{sim.max_tilt:g}°, {sim.voxel_size:g} Å/voxel")
    return sample, sim, seconds
