"""Generate the high-res images of a triplet store with a DiffraGAN model: a stack and a RELION STAR
file with the triplets' Euler angles (``emgan diffragan generate``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emgan_core.api import (
    EmganError,
    check_output,
    load_for_inference,
    resolve_device,
    write_image_stack,
    write_particle_star,
)


def load_generator(checkpoint, dataset, device: str = "auto", eval_mode: bool = False, seed: int = 0):
    """(task, store, device): the DiffraGAN model at ``checkpoint`` (a checkpoint, run folder or model
    name; ``eval_mode``: the generator in eval mode instead of pix2pix's test time), torch seeded with
    ``seed`` for its test-time dropout, and the triplet store ``dataset``."""
    import torch

    from .dataset import TripletStore
    from .task import DiffraGANTask

    device = resolve_device(device)
    task, ckpt = load_for_inference(checkpoint, device, test_mode="eval" if eval_mode else None)
    torch.manual_seed(int(seed))
    if not isinstance(task, DiffraGANTask):
        raise EmganError(f"not a DiffraGAN checkpoint (task/{ckpt['components']['task']['name']})",
                         str(checkpoint))
    return task, TripletStore(dataset), device


def generate(checkpoint, dataset, output, phaser_only: bool = False, device: str = "auto",
             eval_mode: bool = False, seed: int = 0):
    """Write the generated images of the store's finished triplets to ``output`` (.mrcs) and their
    angles to the STAR file beside it (neither without the other); (stack, triplets, STAR path).
    ``phaser_only``: the phasing generator's classical phaser alone, without the network."""
    out = Path(output)
    star = out.with_suffix(".star")
    check_output(out)
    check_output(star)
    task, store, device = load_generator(checkpoint, dataset, device, eval_mode, seed)
    index = np.flatnonzero(store.done())
    stack = task.infer(store, device=device, indices=index, phaser_only=phaser_only)
    settings = store.settings
    write_image_stack(out, stack)
    try:
        write_particle_star(star, out, store.angles()[index], stack.pixel_size, stack.data.shape[-1],
                            voltage=float(settings["energy"]), cs=0.0, amplitude_contrast=0.0)
    except BaseException:
        out.unlink(missing_ok=True)  # no stack without its STAR file
        raise
    return stack, len(index), star
