"""``task/struc2mapgan``: the paired game on (simulated map of a model, experimental map) cubes.

A conditional-free GAN (the critic judges the output cube alone), the input being the recipe's
simulator (``simulator/gaussian``, ChimeraX molmap) run on the target's grid. Data: the rows of a
curation manifest (``emgan struc2mapgan curate``), a list of :class:`CuratedPair` items, or a
pairs CSV (curation's input), curated on first use into the emgan cache
(:func:`.curate.curated_manifest`) and read from there afterwards.
Inference: the simulated map of a structure in 32³ boxes with a 20³ core (``eval``), boxes with no
density skipped.

The paper's settings are the defaults (one input channel, molmap at the simulator's 2 Å,
min–max normalisation). The options below are what the shipped model adds, each a choice the
paper leaves open:

* ``input_resolution: pair`` simulates each input at its target's resolution (and, at inference,
  at the resolution asked for), so that the generator corrects a map of the right resolution
  rather than learning the blur;
* ``channels: backbone-sidechain`` splits the input into the backbone's and the side chains'
  molmaps (one scale for both): experimental density at side chains is weaker and more variable;
* ``mask: true`` multiplies the output by the model's soft mask (curation's: 1 within
  ``mask_radius`` Å of an atom, a cosine edge of ``mask_edge`` Å), in training and inference alike:
  the generator makes the map as curated (masked to the model), and the solvent is exactly 0;
* ``normalise: percentile`` scales maps by the 99.9th percentile of their non-zero values, keeping
  zero at zero (``min–max`` moves a masked map's background off zero);
* ``resolution_augment: R_max`` blurs each training patch of a pair at resolution R, its input
  channels and its target alike, to a resolution drawn uniformly in [R, R_max] (a Gaussian of
  σ² = σ(R')² − σ(R)², σ(R) the simulator's σ at R; the input then is exactly the model's map at R'):
  the generator meets maps of every resolution it will be asked for, not only those of its
  training pairs.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from emgan_core.api import (
    Atoms,
    EmganError,
    InputPath,
    PairedTask,
    PatchPairs,
    Volume,
    crop,
    is_structure_path,
    read_map,
    read_structure,
    soft_mask,
)
from emgan_core.api import normalise as normalise_array

from .curate import curated_manifest, is_pairs_table


@dataclass
class CuratedPair:
    """A training pair: the atomic ``model`` (PDB/mmCIF), its curated experimental ``target`` map and
    the map's ``resolution`` (Å)."""

    model: InputPath
    target: InputPath
    resolution: float | None = None


class Struc2mapGANTask(PairedTask):
    """struc2mapGAN: model → experimental-like map (the simulator is required).

    Args:
        normalise: ``minmax`` (the paper) or ``percentile`` (zero stays zero; module docstring).
        input_resolution: ``simulator`` (the recipe simulator's resolution, the paper's 2 Å) or
            ``pair`` (each target's resolution; inference asks for one).
        channels: ``all`` (one molmap) or ``backbone-sidechain`` (two).
        mask: multiply the output by the model's soft mask (``mask_radius``, ``mask_edge`` in Å);
            training patches are then drawn around the model (the target's non-zero voxels).
        resolution_augment: blur training patches to a random resolution up to this (Å).
    """

    #: each split: a list of pairs, a curation manifest, or a pairs CSV (columns map, model,
    #: resolution) curated on first use into the emgan cache, or into ``cache`` when given
    data_keys = {"train": list[CuratedPair] | InputPath, "val": list[CuratedPair] | InputPath | None,
                 "cache": str | None}

    def __init__(self, normalise: Literal["minmax", "percentile"] = "minmax",
                 input_resolution: Literal["simulator", "pair"] = "simulator",
                 channels: Literal["all", "backbone-sidechain"] = "all", mask: bool = False,
                 mask_radius: float = 3.0, mask_edge: float = 3.0, resolution_augment: float | None = None):
        super().__init__(conditional=False, normalise=normalise, spatial_dims=3)
        if mask_radius < 0 or mask_edge < 0:
            raise ValueError(f"mask_radius and mask_edge must be >= 0 Å, got {mask_radius}, {mask_edge}")
        self.input_resolution, self.channels, self.mask = input_resolution, channels, bool(mask)
        self.focus = self.mask  # masked targets: patches around the model, not its empty box
        if resolution_augment is not None and not resolution_augment > 0:
            raise ValueError(f"resolution_augment must be a positive resolution (Å), got {resolution_augment}")
        self.resolution_augment = resolution_augment
        self.mask_radius, self.mask_edge = float(mask_radius), float(mask_edge)

    def bind(self, networks, losses, train=None, data=None, eval=None, simulator=None):
        super().bind(networks, losses, train, data, eval, simulator)
        if simulator is None:
            raise EmganError("task/struc2mapgan simulates its inputs: add 'simulator: {name: gaussian, ...}'",
                             "simulator")
        wanted = 2 if self.channels == "backbone-sidechain" else 1
        generator = getattr(self.generator, "module", self.generator)
        given = getattr(generator, "in_channels", wanted)
        if given != wanted:
            raise EmganError(f"task channels '{self.channels}' give {wanted} input channel(s); the generator "
                             f"takes {given}", "generator.params.in_channels")

    def split_items(self, split: str) -> list[dict]:
        value = (self.data or {}).get(split)
        if isinstance(value, str) and is_pairs_table(value):  # curated once, then read from the cache
            manifest = str(curated_manifest(value, self.data.get("cache")))
            self.data = {**self.data, **{k: manifest for k in ("train", "val") if self.data.get(k) == value}}
        items = super().split_items(split)
        for i, item in enumerate(items):
            if isinstance(item, dict) and "model" not in item:
                raise EmganError("each pair needs the atomic 'model' its input map is simulated from",
                                 f"data.{split}.{i}")
            if self.input_resolution == "pair" and isinstance(item, dict) and item.get("resolution") is None:
                raise EmganError("task input_resolution 'pair' simulates each input at its target's resolution: "
                                 "give the pair a 'resolution' (Å)", f"data.{split}.{i}")
        return items

    # -- inputs ----------------------------------------------------------------------------------

    def simulated_input(self, atoms: Atoms, grid: Volume, resolution: float | None) -> np.ndarray:
        """(C, z, y, x) float32 generator input on ``grid``: the simulated channels and, with ``mask``,
        the model's soft mask as the last channel. Every channel is divided by one scale, that of
        the whole model's map: its maximum (``minmax``: the map's min–max, a simulated map's minimum
        being 0) or the 99.9th percentile of its non-zero values (``percentile``)."""
        simulator = self.simulator
        if self.input_resolution == "pair":
            if resolution is None:
                raise EmganError("this model simulates its input at the map's resolution: give the resolution "
                                 "(Å) to generate at (--resolution)", "resolution")
            simulator = copy.copy(simulator)
            simulator.resolution = float(resolution)
        if self.channels == "backbone-sidechain":
            backbone = atoms.backbone()
            if not backbone.any():
                raise EmganError("no backbone atoms (N, CA, C, O) by name: this model needs atom names",
                                 atoms.source or None)
            parts = [simulator.simulate(atoms.subset(m), grid=grid).data if m.any() else np.zeros(grid.shape)
                     for m in (backbone, ~backbone)]
        else:
            parts = [simulator.simulate(atoms, grid=grid).data]
        stacked = np.stack(parts).astype(np.float32)
        total = stacked.sum(0)
        if self.normalise == "percentile":
            nonzero = total[total != 0]
            scale = float(np.percentile(nonzero, 99.9)) if nonzero.size else 0.0
        else:
            scale = float(total.max())
        channels = list(stacked / scale) if scale > 0 else list(np.zeros_like(stacked))
        if self.mask:
            channels.append(soft_mask(grid, atoms.xyz, self.mask_radius, self.mask_edge))
        return np.stack(channels).astype(np.float32)

    def pair_loaders(self, split: str):
        items = self.split_items(split)
        return [functools.partial(_curated_pair, item, self) for item in items]

    def train_dataset(self, seed: int):
        if self.resolution_augment is None:
            return super().train_dataset(seed)
        loaders = self.pair_loaders("train")
        if not loaders:
            raise EmganError("no training pairs", "data.train")
        self.voxel_size = self._training_voxel_size()
        if any(item.get("resolution") is None for item in self.split_items("train")):
            raise EmganError("resolution_augment blurs each pair from its own resolution: give every pair "
                             "a 'resolution' (Å)", "data.train")
        return BlurredPatches(loaders, self.train.patch_size, length=2**62, seed=seed, augment=self.train.augment,
                              focus=self.focus, max_resolution=self.resolution_augment,
                              sigma_factor=self.simulator.sigma_factor, voxel_size=float(np.mean(self.voxel_size)),
                              masked=self.mask)

    def _generate(self, batch):
        if not self.mask:
            return super()._generate(batch)
        x, weights = batch["input"][:, :-1], batch["input"][:, -1:]
        return super()._generate({**batch, "input": x}) * weights

    def _example(self, batch_size: int, patch_size) -> dict:
        batch = super()._example(batch_size, patch_size)
        if self.mask:  # the mask rides along as one more input channel
            x = batch["input"]
            batch["input"] = torch.cat([x, torch.ones_like(x[:, :1])], 1)
        return batch

    # -- inference ---------------------------------------------------------------------------------

    def _read_source(self, source, resolution: float | None = None):
        if not (isinstance(source, (str, bytes)) or hasattr(source, "__fspath__")) or not is_structure_path(source):
            raise EmganError("task/struc2mapgan generates a map from an atomic model (PDB/mmCIF)", str(source))
        atoms = read_structure(source)
        res = resolution if self.input_resolution == "pair" else self.simulator.resolution
        grid = self.simulator.grid_for(atoms) if res is None else _grid(self.simulator, atoms, res)
        return grid, self.simulated_input(atoms, grid, resolution)

    @torch.no_grad()
    def infer(self, source, device: str | torch.device = "cpu", resolution: float | None = None,
              raw_input: bool = False):
        """The generated map of an atomic model (``source``: PDB/mmCIF) on a 1 Å grid around it;
        ``resolution`` (Å) for models that simulate at the map's resolution or are conditioned on it.

        ``raw_input``: the generator's input instead of its output (the simulated channels summed,
        masked as the output is): the control that shows what the generator adds to the map it
        starts from."""
        if self.conditioned and resolution is None:
            raise EmganError("this generator is resolution-conditioned: give the resolution (Å) to generate",
                             "resolution")
        grid, x = self._read_source(source, resolution)
        if raw_input:
            sim = x[:-1].sum(0) * x[-1] if self.mask else x.sum(0)
            return grid.with_data(sim)
        self.generator.to(device).eval()

        def run(patch):
            batch = {"input": patch.to(device)}
            if self.conditioned:
                batch["resolution"] = torch.full((patch.shape[0],), float(resolution), device=device)
            with self.eval.autocast(device):
                return self._generate(batch).float().cpu()

        return grid.with_data(self.infer_array(run, x, device)[0])

    def inference_spec(self):
        return {**super().inference_spec(), "input_resolution": self.input_resolution}


def _grid(simulator, atoms: Atoms, resolution: float) -> Volume:
    """The simulator's fitted grid (its voxel size) with the padding a map at ``resolution`` needs."""
    sim = copy.copy(simulator)
    sim.resolution = float(resolution)
    sim.padding = 3.0 * float(resolution)
    return sim.grid_for(atoms)


def _curated_pair(item: dict, task: Struc2mapGANTask):
    """(input (C, z, y, x), target (1, z, y, x), extras) of one curated pair."""
    target = read_map(item["target"])
    atoms = read_structure(item["model"])
    extras = {"resolution": float(item["resolution"])} if item.get("resolution") is not None else {}
    x = task.simulated_input(atoms, target, extras.get("resolution"))
    return x, normalise_array(target.data, task.normalise)[None], extras


class BlurredPatches(PatchPairs):
    """Training patches blurred, input channels and target alike, to a random lower resolution (the
    task's ``resolution_augment``): a Gaussian of σ² = σ(R')² − σ(R)² with σ(R) = ``sigma_factor`` × R,
    R the pair's resolution and R' uniform in [R, ``max_resolution``]; the patch is cut with a margin
    of 3σ first, so that its edges are blurred from real neighbours. With ``masked`` the last input
    channel is the model's mask: it is not blurred, and the blurred target is masked again."""

    def __init__(self, *args, max_resolution: float, sigma_factor: float, voxel_size: float = 1.0,
                 masked: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_resolution, self.sigma_factor = float(max_resolution), float(sigma_factor)
        self.voxel_size, self.masked = float(voxel_size), bool(masked)

    def draw(self, k: int, rng) -> dict:
        from scipy.ndimage import gaussian_filter

        inp, tgt, extras = self._load(k)
        low = float(extras["resolution"])
        res = float(rng.uniform(low, max(low, self.max_resolution)))
        sigma = np.sqrt(max((self.sigma_factor * res) ** 2 - (self.sigma_factor * low) ** 2, 0.0)) / self.voxel_size
        margin = int(np.ceil(3 * sigma))
        start = self.start(k, tgt.shape[1:], self.patch, rng)
        outer = [s - margin for s in start]
        size = tuple(p + 2 * margin for p in self.patch)
        x, y = crop(inp, outer, size), crop(tgt, outer, size)
        blurred = slice(0, x.shape[0] - 1) if self.masked else slice(None)
        if sigma > 0.05:
            x[blurred] = gaussian_filter(x[blurred], (0, sigma, sigma, sigma), mode="constant")
            y = gaussian_filter(y, (0, sigma, sigma, sigma), mode="constant")
        inner = (slice(None),) + tuple(slice(margin, margin + p) for p in self.patch)
        x, y = x[inner], y[inner]
        if self.masked:
            y = y * x[-1:]
        return {"input": np.ascontiguousarray(x), "target": np.ascontiguousarray(y), "resolution": res}
