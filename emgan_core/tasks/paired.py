"""``task/paired``: a conditional GAN on aligned (input, target) pairs (pix2pix, struc2mapGAN, SuperEM).

Generator: input → output of the target's shape. Critic (optional): judges the output alone, or the
input and output stacked as channels (``conditional``, pix2pix). Loss = Σ weight × term over the
recipe's losses: the adversarial one (if any) on critic logits, the others (L1, smooth-L1, MSE…)
between output and target.

Data (recipe ``data``): ``train`` and ``val`` lists of pairs ``{input: MAP, target: MAP}`` — the input
is resampled onto the target's grid — or ``{model: PDB/mmCIF, target: MAP}``, the input then being
the recipe's simulator run on the target's grid. A pair may give the target's ``resolution`` (Å):
a generator with ``conditioning = "resolution"`` receives it (FiLM-style), and at inference the
requested resolution. With ``spatial_dims: 2`` inputs and targets are
image stacks (.mrcs), paired image by image.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import torch

from ..errors import EmganError
from ..inferers import PatchInferer
from ..inferers.tiles import tiled_inferer
from ..interfaces import Simulator, Task
from ..io import read_image_stack, read_map, read_structure
from ..io.manifest import read_manifest
from ..io.maps import read_voxel_size
from ..io.structures import is_structure_path
from ..params import InputPath
from ..settings.inference import EvalSettings
from ..training.data import PatchPairs
from ..transforms import normalise as normalise_array
from ..transforms import resample_to_grid
from ..transforms.resample import resample_to_voxel_size
from ..volume import ImageStack, Volume


@dataclass
class Pair:
    """A ``data.train``/``data.val`` item of ``task/paired``: a ``target`` map (or .mrcs stack) and its
    ``input`` map, or the ``model`` (PDB/mmCIF) the simulator turns into the input; the target's
    ``resolution`` (Å) for resolution-conditioned generators; ``pixel_size`` (Å) for headerless stacks."""

    target: InputPath
    input: InputPath | None = None
    model: InputPath | None = None
    resolution: float | None = None
    pixel_size: float | None = None


PAIR_KEYS = tuple(f.name for f in fields(Pair))


def _name(loss) -> str:
    return getattr(loss, "name", type(loss).__name__)


def load_pair(item: dict, normalise: str, spatial_dims: int, simulator: Simulator | None):
    """(input (1, *S), target (1, *S), extras) normalised float32 arrays for one data item."""
    extras = {"resolution": float(item["resolution"])} if "resolution" in item else {}
    if spatial_dims == 2:
        inp = read_image_stack(item["input"], item.get("pixel_size")).data
        tgt = read_image_stack(item["target"], item.get("pixel_size")).data
        if inp.shape != tgt.shape:
            raise EmganError(f"input stack {inp.shape} and target stack {tgt.shape} differ", item["input"])
        norm = np.stack([normalise_array(i, normalise) for i in inp]), np.stack(
            [normalise_array(t, normalise) for t in tgt])
        return norm[0][None], norm[1][None], extras
    target = read_map(item["target"])
    if "model" in item:
        if simulator is None:
            raise EmganError("a pair with 'model' needs a simulator section in the recipe", item["model"])
        inp = simulator.simulate(read_structure(item["model"]), grid=target)
    else:
        inp = resample_to_grid(read_map(item["input"]), target)
    return normalise_array(inp.data, normalise)[None], normalise_array(target.data, normalise)[None], extras


class PairedTask(Task):
    """Conditional GAN on aligned pairs.

    Args:
        conditional: the critic sees (input, output) stacked as channels (pix2pix); otherwise the
            output alone (struc2mapGAN, SuperEM).
        normalise: per-map (per-image) intensity normalisation of inputs and targets.
        spatial_dims: 3 for maps (z, y, x), 2 for image stacks (y, x).
    """

    #: each split: a list of :class:`Pair` records, or a CSV manifest with those columns
    data_keys = {"train": list[Pair] | InputPath, "val": list[Pair] | InputPath | None}
    #: draw patches around the target's non-zero voxels (:class:`~emgan_core.training.data.PatchPairs`)
    focus: bool = False

    def __init__(self, conditional: bool = False, normalise: Literal["minmax", "zscore", "none"] = "minmax",
                 spatial_dims: Literal[2, 3] = 3):
        self.conditional = conditional
        self.normalise = normalise
        self.spatial_dims = spatial_dims
        self.eval = EvalSettings.from_mapping({}, self.eval_defaults)
        self.voxel_size = None

    # -- wiring ---------------------------------------------------------------------------------

    def bind(self, networks, losses, train=None, data=None, eval=None, simulator=None):
        super().bind(networks, losses, train, data, eval, simulator)
        self.adversarial = [(loss, w) for loss, w in losses if loss.adversarial]
        self.content = [(loss, w) for loss, w in losses if not loss.adversarial]
        if len(self.adversarial) > 1:
            raise EmganError("give at most one adversarial loss", "losses")
        if self.adversarial and "critic" not in networks:
            raise EmganError("an adversarial loss needs a critic section", "losses")
        if "critic" in networks and not self.adversarial and losses:
            raise EmganError("a critic needs an adversarial loss (bce, least-squares, wasserstein, hinge)",
                             "losses")

    @property
    def generator(self):
        return self.networks["generator"]

    @property
    def critic(self):
        return self.networks.get("critic")

    @property
    def conditioned(self) -> bool:
        g = self.generator
        return getattr(getattr(g, "module", g), "conditioning", None) == "resolution"

    def _generate(self, batch):
        if self.conditioned:
            if "resolution" not in batch:
                raise EmganError("the generator is resolution-conditioned: give each pair a 'resolution'",
                                 "data")
            return self.generator(batch["input"], resolution=batch["resolution"])
        return self.generator(batch["input"])

    def split_items(self, split: str) -> list[dict]:
        """The pairs of ``data.<split>``: a list, or a CSV manifest (e.g. from a curation command;
        :func:`~emgan_core.io.manifest.read_manifest`)."""
        items = self.data.get(split) or []
        if not isinstance(items, str):
            return items
        rows = read_manifest(items, split, PAIR_KEYS, paths=("input", "model", "target"))
        return [{k: (float(v) if k == "resolution" else v) for k, v in r.items()} for r in rows]

    def pair_loaders(self, split: str) -> list:
        """One loader per pair of ``data.<split>`` (``"train"`` or ``"val"``): a callable without
        arguments that returns ``(input, target)``, float32 arrays of shape (C, z, y, x) (3D) or
        (C, y, x) (2D) on one grid, normalised as the task says. The patch sampler calls a loader
        when it first needs that pair. Override this hook to make pairs another way (blur a sharp
        map, simulate from a model, read another format) and keep the rest of the task: patches,
        augmentation, the pix2pix game, inference. The default reads each item's ``target`` and
        ``input`` (or simulates ``model`` with the recipe's simulator)."""
        items = self.split_items(split)
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "target" not in item or not ({"input", "model"} & set(item)):
                raise EmganError("each pair needs 'target' and 'input' (or 'model')", f"data.{split}.{i}")
        return [functools.partial(load_pair, item, self.normalise, self.spatial_dims, self.simulator)
                for item in items]

    def _training_voxel_size(self) -> list[float] | None:
        """The voxel size (x, y, z, Å) of the training maps (each item's ``target``, else its ``map``),
        which inference compares its input with; several sizes are an error (resample the maps to
        one first). None for 2D work or items without a map file."""
        if self.spatial_dims != 3:
            return None
        paths = [item.get("target") or item.get("map") for item in self.split_items("train") if isinstance(item, dict)]
        if not paths or not all(paths):
            return None
        sizes = {tuple(np.round(read_voxel_size(p), 4)) for p in paths}
        if len(sizes) > 1:
            raise EmganError(f"training targets at several voxel sizes {sorted(sizes)} Å: resample them to one",
                             "data.train")
        return [float(v) for v in sizes.pop()] if sizes else None

    def train_dataset(self, seed: int):
        loaders = self.pair_loaders("train")
        if not loaders:
            raise EmganError("no training pairs", "data.train")
        self.voxel_size = self._training_voxel_size()
        tc = self.train
        return PatchPairs(loaders, tc.patch_size, length=2**62, seed=seed,
                          spatial_dims=self.spatial_dims, augment=tc.augment, focus=self.focus)

    def val_dataset(self, seed: int):
        loaders = self.pair_loaders("val")
        if not loaders:
            return None
        tc = self.train
        return PatchPairs(loaders, tc.patch_size, length=tc.val_batches * tc.batch_size,
                          seed=seed + 1_000_003, spatial_dims=self.spatial_dims, focus=self.focus)

    # -- the game --------------------------------------------------------------------------------

    def _judge(self, inp, out):
        return torch.cat([inp, out], 1) if self.conditional else out

    def generate(self, batch):
        return self._generate(batch)

    def critic_losses(self, batch, generated):
        inp, real, fake = batch["input"], batch["target"], generated.detach()
        loss, weight = self.adversarial[0]
        both = self.critic(torch.cat([self._judge(inp, real), self._judge(inp, fake)]))
        real_logits, fake_logits = both.split(inp.shape[0])
        terms = {"critic/adversarial": weight * loss.critic_loss(real_logits, fake_logits)}
        gp = getattr(self.train, "gradient_penalty", None)
        if gp:
            from ..training.penalties import gradient_penalty

            terms["critic/gradient_penalty"] = gp * gradient_penalty(
                self.critic, self._judge(inp, real), self._judge(inp, fake))
        return terms

    def generator_losses(self, batch, generated):
        inp, target, fake = batch["input"], batch["target"], generated
        terms = {}
        if self.adversarial:
            loss, weight = self.adversarial[0]
            terms["generator/adversarial"] = weight * loss.generator_loss(self.critic(self._judge(inp, fake)))
        for loss, weight in self.content:
            terms[f"generator/{_name(loss)}"] = weight * loss(fake, target)
        return terms

    def validation_losses(self, batch):
        """The content losses on a validation batch, plus :meth:`validation_extras`."""
        fake = self._generate(batch)
        terms = {f"val/{_name(loss)}": loss(fake, batch["target"]) for loss, _ in self.content}
        terms.update(self.validation_extras(batch, fake))
        return terms

    def validation_extras(self, batch, fake) -> dict:
        """Method-specific validation terms of a batch and its generated output (default: L1)."""
        return {"val/l1": torch.nn.functional.l1_loss(fake, batch["target"])}

    def summaries(self, batch):
        with torch.no_grad():
            fake = self._generate({k: v[:1] for k, v in batch.items()})
        pick = (lambda t: t[0, 0, t.shape[2] // 2]) if self.spatial_dims == 3 else (lambda t: t[0, 0])
        return {name: pick(t).float().cpu().numpy() for name, t in
                (("input", batch["input"]), ("output", fake), ("target", batch["target"]))}

    def _example(self, batch_size: int, patch_size) -> dict:
        size = [int(v) for v in np.atleast_1d(patch_size)]
        size = tuple(size * self.spatial_dims if len(size) == 1 else size)
        generator = getattr(self.generator, "module", self.generator)
        batch = {"input": torch.zeros((batch_size, int(getattr(generator, "in_channels", 1))) + size),
                 "target": torch.zeros((batch_size, int(getattr(generator, "out_channels", 1))) + size)}
        if self.conditioned:
            batch["resolution"] = torch.full((batch_size,), 3.0)
        return batch

    def example_batch(self, batch_size: int, patch_size):
        return self._example(batch_size, patch_size)

    def example_inference_batch(self):
        return self._example(1, self._window())

    # -- inference -------------------------------------------------------------------------------

    def _window(self):
        """The inference window: ``eval.window``, else the training patch size."""
        return self.eval.window if self.eval.window is not None else getattr(self.train, "patch_size", 32)

    def inference_spec(self):
        return {"eval": self.eval.replace(window=self._window()).as_dict(), "normalise": self.normalise,
                "spatial_dims": self.spatial_dims, "conditional": self.conditional, "voxel_size": self.voxel_size}

    def load_inference_spec(self, spec):
        super().load_inference_spec(spec)
        self.normalise = spec.get("normalise", self.normalise)
        self.spatial_dims = spec.get("spatial_dims", self.spatial_dims)
        self.voxel_size = spec.get("voxel_size")

    def patch_inferer(self):
        """The window inferer ``self.eval`` describes (see :meth:`PatchInferer.from_settings`)."""
        return PatchInferer.from_settings(self.eval, self.spatial_dims, self._window())

    def infer_array(self, run, x: np.ndarray, device="cpu") -> np.ndarray:
        """``run`` (a batch (B, C, *S) -> (B, C', *S) tensor function that runs the generator) over
        a (C, *S) array as ``self.eval`` says: windows, or tiles (each voxel once); (C', *S)."""
        if self.eval.blend == "tiles":
            if self.spatial_dims != 3:
                raise EmganError("tiles are for 3D maps; use crop, average or hann for images", "eval.blend")
            return tiled_inferer(self.eval, run, self.generator, x.shape[0], x.shape[1:], device)(run, x)
        return self.patch_inferer()(run, x)

    def _read_source(self, source):
        if isinstance(source, (Volume, ImageStack)):
            return source
        if is_structure_path(source):
            if self.simulator is None:
                raise EmganError("this model was trained without a simulator: give a map, not a structure",
                                 str(source))
            return self.simulator.simulate(read_structure(source))
        if self.spatial_dims == 2:
            return read_image_stack(source)
        if str(source).lower().endswith((".mrcs", ".star")):
            raise EmganError("this model works on 3D maps (.mrc/.map/.ccp4) or structures; this is a particle "
                             "image stack, for a 2D model such as task/denoise", str(source))
        return read_map(source)

    @torch.no_grad()
    def infer(self, source, device: str | torch.device = "cpu", resolution: float | None = None):
        """Whole-input inference in windows as ``self.eval`` says; ``resolution`` (Å) is required
        by resolution-conditioned generators."""
        value = self._read_source(source)
        device = torch.device(device)
        generator = self.generator.to(device).eval()

        if self.conditioned and resolution is None:
            raise EmganError("this generator is resolution-conditioned: give the resolution (Å) to generate",
                             "resolution")

        def run(x):
            x = x.to(device)
            with self.eval.autocast(device):
                if self.conditioned:
                    return generator(x, resolution=torch.full((x.shape[0],), float(resolution),
                                                              device=device)).float().cpu()
                return generator(x).float().cpu()

        if isinstance(value, ImageStack):
            inferer = self.patch_inferer()
            images = [inferer(run, normalise_array(img, self.normalise)[None])[0] for img in value.data]
            return ImageStack(np.stack(images), pixel_size=value.pixel_size)
        work = self._on_training_voxels(value, source)
        out = work.with_data(self.infer_array(run, normalise_array(work.data, self.normalise)[None], device)[0])
        return out if work is value else resample_to_grid(out, value)

    def _on_training_voxels(self, value: Volume, source) -> Volume:
        """``value`` resampled to the voxel size the model was trained at (as SuperEM does), when
        it differs by more than 1 % on any axis; a note says so. Models saved without it: as is."""
        trained = self.voxel_size
        if not trained or np.allclose(value.voxel_size, trained, rtol=0.01):
            return value
        import sys

        size = float(np.mean(trained))
        here = " × ".join(f"{v:.4g}" for v in value.voxel_size)
        print(f"note: {source}: {here} Å voxels, the model was trained at {size:.4g} Å: the map is resampled "
              f"to {size:.4g} Å for the generator and the result back onto its grid", file=sys.stderr)
        return resample_to_voxel_size(value, size)
