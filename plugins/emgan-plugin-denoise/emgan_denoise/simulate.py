"""Write a simulated particle set: noisy particles, their clean projections and a RELION STAR file
(``emgan denoise simulate``)."""

from __future__ import annotations

from pathlib import Path

from emgan_core.api import check_output, write_image_stack, write_particle_star

from .simulator import ProjectionSimulator

#: the files :func:`write_particles` writes into its folder
FILES = ("noisy.mrcs", "clean.mrcs", "particles.star")


def write_particles(source, output, *, count: int = 100, image_size: int = 64, pixel_size: float = 1.5,
                    resolution: float = 3.0, ctf: bool = False, sigma: float | None = None,
                    snr: float | None = None, seed: int = 0) -> ProjectionSimulator:
    """``count`` particles of ``source`` (structure or map) by :class:`ProjectionSimulator` (noise by
    ``sigma`` if given, else ``snr``, 0.1 by default), written as :data:`FILES` into ``output``
    (made only once there is something to write); the simulator used."""
    out = Path(output)
    if out.is_dir():  # a new folder holds nothing to overwrite
        for name in FILES:
            check_output(out / name)
    sim = ProjectionSimulator(image_size, pixel_size, resolution, ctf=ctf, sigma=sigma,
                              snr=None if sigma is not None else (snr or 0.1))
    pairs = sim.simulate(source, count=count, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    write_image_stack(out / "noisy.mrcs", pairs.noisy)
    write_image_stack(out / "clean.mrcs", pairs.clean)
    write_particle_star(out / "particles.star", out / "noisy.mrcs", pairs.angles, sim.pixel_size, sim.image_size,
                        pairs.defocus if sim.ctf else None, sim.voltage, sim.cs, sim.amplitude_contrast)
    return sim
