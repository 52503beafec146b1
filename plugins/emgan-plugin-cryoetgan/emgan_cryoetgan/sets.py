"""Labelled sets of simulated particles: ``emgan cryoetgan simulate-set``, and the sets ``task/cycle``
and ``task/classify`` simulate on first use into the emgan cache from a recipe's
``{structures: [...], count: N, seed: S, column: NAME}`` items (:func:`cached_set`)."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np

from emgan_core.api import EmganError, Progress, build_cached, read_structure, write_set

from .simulator import SubtomogramSimulator

#: what a simulated set holds (its table and maps); a new value makes cached sets stale
SET_FORMAT = "emgan-cryoetgan-set/1"


def simulate_set(simulator: SubtomogramSimulator, structures, count: int, folder: Path, *, seed: int = 0,
                 conventional: bool = False) -> list[str]:
    """Simulate ``count`` particles of each structure into ``folder`` (``set.csv`` with columns
    ``label`` (the file stem), ``density`` (domain A), ``subtomogram`` (domain B), with
    ``conventional`` also ``conventional``, the angles and shifts; one MRC file per sample). Particle
    i of structure k draws from the generator seeded by (``seed``, k), in order; its conventional
    noise from (``seed``, k, i, 1). Neighbours come from all the structures. Returns the labels."""
    if count < 1:
        raise EmganError(f"count must be >= 1, got {count}", "count")
    loaded = [(Path(s).stem, read_structure(s)) for s in structures]
    names = [n for n, _ in loaded]
    if len(set(names)) != len(names):
        raise EmganError(f"two structures share a file stem (labels must differ): {names}", "structures")
    sim = copy.copy(simulator)
    sim.neighbour_pool = [atoms for _, atoms in loaded]
    wedge = sim.conventional() if conventional else None
    columns = {"density": [], "subtomogram": [], **({"conventional": []} if wedge else {})}
    labels, extra = [], {k: [] for k in ("rot", "tilt", "psi", "shift_x", "shift_y", "shift_z")}
    with Progress(f"simulating {', '.join(names)}", len(loaded) * count, unit="particle") as bar:
        for k, (name, atoms) in enumerate(loaded):
            rng = np.random.default_rng([seed, k])
            for i in range(count):
                s = sim.sample(atoms, rng)
                columns["density"].append(s.density)
                columns["subtomogram"].append(s.subtomogram)
                if wedge:
                    noise = np.random.default_rng([seed, k, i, 1])
                    columns["conventional"].append(s.density.with_data(wedge.corrupt(s.density.data, noise)))
                labels.append(name)
                for key, v in zip(extra, [*s.angles, *s.shift]):
                    extra[key].append(round(float(v), 4))
                bar.update()
    write_set(folder, columns, labels, extra)
    return names


def cached_set(simulator: SubtomogramSimulator, structures, count: int, *, seed: int = 0,
               conventional: bool = False, folder: str | os.PathLike | None = None) -> Path:
    """The table (``set.csv``) of :func:`simulate_set`'s set, simulated on first use into the emgan
    cache (``$EMGAN_CACHE/data/cryoetgan-sets/``, or ``folder``) and found there afterwards: keyed
    by the structures (paths and bytes), ``count``, ``seed``, ``conventional``, the simulator's
    settings and this plugin's version."""
    from . import __version__

    structures = [Path(s) for s in structures]
    settings = {"format": SET_FORMAT, "plugin": __version__, "simulator": simulator.settings(),
                "count": int(count), "seed": int(seed), "conventional": bool(conventional)}
    stems = "-".join(s.stem for s in structures)
    name = f"{stems[:40]}-n{count}-seed{seed}"
    entry = build_cached("cryoetgan-sets", settings,
                         lambda tmp: simulate_set(simulator, structures, count, tmp, seed=seed,
                                                  conventional=conventional),
                         files=structures, name=name, folder=folder,
                         what=f"{count} particles each of {', '.join(s.stem for s in structures)} (seed {seed})")
    return entry / "set.csv"
