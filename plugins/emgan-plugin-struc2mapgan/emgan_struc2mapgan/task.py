"""``task/struc2mapgan``: the paired game on (simulated map of a model, experimental map) cubes.

A conditional-free GAN (the critic judges the output cube alone), inputs and targets min-max
normalised to [0, 1], the input being the recipe's simulator (``simulator/gaussian``, ChimeraX
molmap) run on the target's grid. Data: the rows of a curation manifest (``emgan struc2mapgan
curate``) or a list of :class:`CuratedPair` items. Inference: the simulated map of a structure in
32³ boxes with a 20³ core (``eval``), boxes with no density skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from emgan_core.errors import EmganError
from emgan_core.params import InputPath
from emgan_core.tasks.paired import PairedTask


@dataclass
class CuratedPair:
    """A training pair: the atomic ``model`` (PDB/mmCIF), its curated experimental ``target`` map and
    the map's ``resolution`` (Å)."""

    model: InputPath
    target: InputPath
    resolution: float | None = None


class Struc2mapGANTask(PairedTask):
    """struc2mapGAN: model → experimental-like map (the simulator is required)."""

    data_keys = {"train": list[CuratedPair] | InputPath, "val": list[CuratedPair] | InputPath | None}

    def __init__(self):
        super().__init__(conditional=False, normalise="minmax", spatial_dims=3)

    def bind(self, networks, losses, train=None, data=None, eval=None, simulator=None):
        super().bind(networks, losses, train, data, eval, simulator)
        if simulator is None:
            raise EmganError("task/struc2mapgan simulates its inputs: add 'simulator: {name: gaussian, ...}'",
                             "simulator")

    def _items(self, split: str) -> list[dict]:
        items = super()._items(split)
        for i, item in enumerate(items):
            if isinstance(item, dict) and "model" not in item:
                raise EmganError("each pair needs the atomic 'model' its input map is simulated from",
                                 f"data.{split}.{i}")
        return items
