"""A triplet store's finished triplets as three image stacks (``emgan diffragan export``): the
references of a benchmark."""

from __future__ import annotations

from pathlib import Path

from emgan_core.api import ImageStack, check_output, write_image_stack


def export_store(dataset, folder) -> dict[str, Path]:
    """The finished triplets of a store as three .mrcs stacks (written atomically) in ``folder``."""
    from .dataset import CHANNELS, TripletStore

    store, folder = TripletStore(dataset), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.mrcs" for name in CHANNELS}
    for path in paths.values():
        check_output(path)
    arrays = store.load()
    for name, path in paths.items():
        write_image_stack(path, ImageStack(arrays[name], store.pixel_size))
    return paths
