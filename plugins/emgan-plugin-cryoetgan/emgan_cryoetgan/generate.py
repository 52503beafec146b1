"""Translate a set with a trained cycle GAN into a new set, labels carried over (``emgan cryoetgan
generate``)."""

from __future__ import annotations

from emgan_core.api import (
    Volume,
    load_for_inference,
    new_set_folder,
    read_set,
    write_set,
)


def translate_set(checkpoint, table, output, column: str = "density", direction: str | None = None,
                  overwrite: bool = False) -> int:
    """The samples of ``table``'s ``column`` translated by the ``task/cycle`` model at ``checkpoint``
    (``direction`` ``ab`` or ``ba``; default: the recipe's) into the new set folder ``output``
    (column ``generated``); how many."""
    task = load_for_inference(checkpoint, task="cycle")[0]
    data = read_set(table, column)
    task.check_voxel_size(data.voxel_size, table)
    with new_set_folder(output, overwrite) as folder:
        out = task.translate(data.samples, direction)
        volumes = [Volume(v, voxel_size=data.voxel_size) for v in out]
        write_set(folder, {"generated": volumes}, data.labels)
    return len(out)
