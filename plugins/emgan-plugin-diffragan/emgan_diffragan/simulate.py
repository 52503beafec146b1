"""Simulate one triplet of a structure and write its three images and a figure of them (``emgan
diffragan simulate``)."""

from __future__ import annotations

import time
from pathlib import Path

from emgan_core.api import check_output


def simulate_triplet(sim, structure, output, angles=(0.0, 0.0, 0.0), seed: int = 0):
    """The triplet of ``structure`` at RELION Euler ``angles`` (degrees) by the simulator ``sim``,
    written into the folder ``output`` as ``triplet_{diffraction,low,high}.mrcs`` and ``triplet.png``;
    (triplet, seconds the simulation took)."""
    from .figures import triplet_figure
    from .simulator import CHANNELS

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    for name in [f"triplet_{c}.mrcs" for c in CHANNELS] + ["triplet.png"]:
        check_output(out / name)
    t0 = time.perf_counter()
    t = sim.simulate(structure, angles=[angles], seed=seed)
    elapsed = time.perf_counter() - t0
    sim.write_output(t, out / "triplet.mrcs")
    triplet_figure(t.diffraction[0], t.low[0], t.high[0], t.pixel_size, t.angular_sampling, out / "triplet.png",
                   f"{Path(structure).stem} at ({', '.join(f'{a:g}' for a in angles)})°")
    return t, elapsed
