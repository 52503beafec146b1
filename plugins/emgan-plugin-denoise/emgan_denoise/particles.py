"""Real particles paired with projections of a reference map at their STAR-file poses.

Pairing follows relion_project: the projection at (rot, tilt, psi) is shifted by −origin
(rlnOriginX/YAngst ÷ pixel size) and, on request, multiplied by the particle's CTF.
"""

from __future__ import annotations

import numpy as np

from emgan_core.api import (
    EmganError,
    FourierProjector,
    ParticleTable,
    apply_ctf,
    ctf_2d,
    read_map,
    resample_to_voxel_size,
    shift_images,
)

from .simulator import centred_box


def particle_ctf(row, size: int) -> np.ndarray:
    """The particle's CTF (fft2 layout) on a size × size box."""
    return ctf_2d((size, size), row.pixel_size, row.defocus_u, row.defocus_v, row.defocus_angle,
                  row.voltage, row.cs, row.amplitude_contrast, row.b_factor, row.phase_shift)


def reference_projections(table: ParticleTable, reference, size: int, ctf: bool = True,
                          phase_flip: bool = False) -> np.ndarray:
    """(n, size, size) projections of ``reference`` (map path or Volume) at each particle's pose;
    with ``ctf`` the STAR file must hold the defocus (:meth:`ParticleTable.require_ctf`)."""
    if ctf:
        table.require_ctf()
    px = float(table.rows["pixel_size"].iloc[0])
    if not np.allclose(table.rows["pixel_size"], px, rtol=1e-3):
        raise EmganError("particles have several pixel sizes; split the STAR file by optics group", str(table.path))
    volume = read_map(reference) if not hasattr(reference, "data") else reference
    if not np.allclose(volume.voxel_size, px, rtol=1e-3):
        volume = resample_to_voxel_size(volume, px)
    projector = FourierProjector(centred_box(volume, size), px)
    rows = table.rows
    images = projector.project(rows[["rot", "tilt", "psi"]].to_numpy())
    images = shift_images(images, -rows[["shift_x", "shift_y"]].to_numpy() / px)
    if ctf:
        images = np.stack([apply_ctf(img, particle_ctf(r, size), phase_flip) for img, r in
                           zip(images, rows.itertuples())])
    return images
