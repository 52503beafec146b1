"""``task/denoise``: pix2pix on (noisy particle image, clean projection) pairs.

Data (recipe ``data.train`` / ``data.val``), lists of items:

- ``{structure: PDB/mmCIF, count: N}`` or ``{map: MRC, count: N}``: N projections at uniformly random
  orientations made by the recipe's ``simulator/projection``. Clean projections are computed once;
  CTF defocus and noise are drawn afresh for every training sample (and fixed for validation).
  ``seed`` picks the orientations (default: the item's position, offset per split, so validation
  orientations differ from training ones).
- ``{star: particles.star, reference: MAP}``: real particles, each paired with the projection of
  the reference at its STAR pose (``ctf``: apply the particle's CTF, default true).

Normalisation: each noisy image is z-scored (as RELION normalises particles); its clean target
goes through the same affine map, divided by ``scale`` so a tanh output has headroom. Inference
undoes it, so denoised images are in the input's units.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from emgan_core.api import (
    BatchInferer,
    EmganError,
    ImageStack,
    InputPath,
    PairedTask,
    ParticleTable,
    SeededSamples,
    Standardiser,
    check_test_mode,
    read_image_stack,
    read_particle_images,
    read_particle_star,
    require_record,
    stack_rows,
    test_time,
)

from .particles import reference_projections
from .simulator import ProjectionSimulator

SPLIT_SEED = {"train": 0, "val": 10_000}


@dataclass
class ParticleSource:
    """A ``data.train``/``data.val`` item: ``count`` projections of a ``structure`` (PDB/mmCIF) or a
    ``map`` at random orientations (``seed`` picks them), or the real particles of a ``star`` file
    paired with projections of the ``reference`` map at their poses (``ctf``: with each particle's
    CTF; ``pixel_size`` Å for headerless stacks)."""

    structure: InputPath | None = None
    map: InputPath | None = None
    count: int = 64
    seed: int | None = None
    star: InputPath | None = None
    reference: InputPath | None = None
    ctf: bool | None = None
    pixel_size: float | None = None




class ParticlePairs(SeededSamples):
    """Normalised (input, target) images (1, n, n).

    ``sources`` are ("simulated", clean (m, n, n)) or ("fixed", noisy (m, n, n), target (m, n, n)).
    Simulated images get fresh CTF and noise from the item's generator (fixed per index for
    validation); see :class:`~emgan_core.training.samples.SeededSamples`.
    """

    def __init__(self, sources, simulator: ProjectionSimulator | None, scale: float, length: int | None = None,
                 seed: int = 0, augment=None):
        self.sources, self.simulator, self.scale = sources, simulator, float(scale)
        self.index = [(k, j) for k, src in enumerate(sources) for j in range(len(src[1]))]
        super().__init__(len(self.index), length, seed, augment, spatial_dims=2, what="images")

    def draw(self, i: int, rng) -> dict:
        k, j = self.index[i]
        kind, *arrays = self.sources[k]
        if kind == "simulated":
            noisy, target, _ = self.simulator.corrupt(arrays[0][j:j + 1], rng)
            noisy, target = noisy[0], target[0]
        else:
            noisy, target = arrays[0][j], arrays[1][j]
        x, y = normalise_pair(noisy, target, self.scale)
        return {"input": x[None], "target": y[None]}


def normalise_pair(noisy: np.ndarray, target: np.ndarray, scale: float):
    """(z-scored noisy, target through the same map ÷ scale) for (y, x) images."""
    s = Standardiser.of(noisy)
    return s.apply(noisy), s.apply(target, scale)


class DenoiseTask(PairedTask):
    """Particle denoising with a conditional GAN on 2D images.

    Args:
        scale: target headroom divisor (targets are in units of scale × the noisy image's std).
        ctf: default for ``star`` items: pair particles with CTF-modulated projections.
        test_mode: ``pix2pix`` (default: dropout on and batch statistics at test time) or ``eval``
            (:func:`emgan_core.inference.test_time`).
    """

    data_keys = {"train": list[ParticleSource], "val": list[ParticleSource] | None}
    accepts_star = True  # infer(star=...) takes the particle table of a stack
    eval_defaults = {"batch_size": 16}  # whole particle images per forward pass

    def __init__(self, scale: float = 3.0, ctf: bool = True, test_mode: Literal["pix2pix", "eval"] = "pix2pix"):
        super().__init__(conditional=True, normalise="none", spatial_dims=2)
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.scale, self.ctf = float(scale), bool(ctf)
        self.test_mode = check_test_mode(test_mode)
        self.pixel_size = None  # Å/pixel the model was trained at (from its checkpoint)

    # -- data -------------------------------------------------------------------------------------

    def _simulator(self) -> ProjectionSimulator:
        if not isinstance(self.simulator, ProjectionSimulator):
            raise EmganError("task/denoise needs 'simulator: {name: projection, ...}' for structure and map "
                             "items", "simulator")
        return self.simulator

    @functools.lru_cache(maxsize=32)
    def _clean(self, path: str, count: int, seed: int):
        sim = self._simulator()
        rng = np.random.default_rng([seed, 7])
        from emgan_core.api import random_euler

        angles = random_euler(count, rng)
        return sim.project(sim.volume_for(sim.read_input(path)), angles)

    def _source(self, item: dict, where: str, default_seed: int):
        require_record(item, ParticleSource, where)
        if "star" in item:
            if "reference" not in item:
                raise EmganError("a 'star' item needs a 'reference' map", where)
            table = read_particle_star(item["star"], item.get("pixel_size"))
            noisy = read_particle_images(table)
            target = reference_projections(table, item["reference"], noisy.shape[-1],
                                           ctf=bool(item.get("ctf", self.ctf)))
            return ("fixed", noisy, target)
        path = item.get("structure", item.get("map"))
        if path is None:
            raise EmganError("each item needs 'structure', 'map' or 'star'", where)
        count = int(item.get("count", 64))
        if count < 1:
            raise EmganError(f"count must be >= 1, got {count}", where)
        return ("simulated", self._clean(str(path), count, int(item.get("seed", default_seed))))

    def _sources(self, split: str):
        items = self.data.get(split) or []
        if not isinstance(items, list):
            raise EmganError("give a list of items", f"data.{split}")
        sources = [self._source(item, f"data.{split}.{i}", SPLIT_SEED[split] + i) for i, item in enumerate(items)]
        sizes = {src[1].shape[-1] for src in sources}
        if len(sizes) > 1:
            raise EmganError(f"images of several sizes {sorted(sizes)}: use one box size", f"data.{split}")
        return sources

    def example_batch(self, batch_size: int, patch_size):
        """Whole images of the simulator's box (train.patch_size does not apply); None without one."""
        size = getattr(self.simulator, "image_size", None)
        return self._example(batch_size, int(size)) if size else None

    def example_inference_batch(self):
        return self.example_batch(1, None)

    def train_dataset(self, seed: int):
        sources = self._sources("train")
        if not sources:
            raise EmganError("no training items", "data.train")
        return ParticlePairs(sources, self.simulator, self.scale, length=2**62, seed=seed,
                             augment=self.train.augment)

    def val_dataset(self, seed: int):
        sources = self._sources("val")
        return ParticlePairs(sources, self.simulator, self.scale, seed=seed + 1_000_003) if sources else None

    def validation_extras(self, batch, fake):
        """MSE of the output and of the input (``val/input_mse``, after the least-squares scaling of
        the input onto the target), both in target units."""
        x, t = batch["input"].flatten(1), batch["target"].flatten(1)
        gain = (x * t).sum(1, keepdim=True) / x.square().sum(1, keepdim=True).clamp_min(1e-12)
        return {"val/mse": torch.nn.functional.mse_loss(fake, batch["target"]),
                "val/input_mse": (gain * x - t).square().mean()}

    # -- inference --------------------------------------------------------------------------------

    def inference_spec(self) -> dict:
        return {**super().inference_spec(), "scale": self.scale, "spatial_dims": 2, "test_mode": self.test_mode,
                "pixel_size": getattr(self.simulator, "pixel_size", None)}

    def load_inference_spec(self, spec: dict) -> None:
        super().load_inference_spec(spec)
        self.pixel_size = spec.get("pixel_size")
        self.scale = float(spec.get("scale", self.scale))
        self.test_mode = check_test_mode(spec.get("test_mode", self.test_mode))

    @torch.no_grad()
    def denoise(self, images: np.ndarray, batch_size: int | None = None,
                device: str | torch.device = "cpu") -> np.ndarray:
        """Denoise (n, y, x) images (sizes divisible by the U-Net's 2^depth); same units out. The
        generator runs in ``self.test_mode`` (pix2pix: stochastic, batch statistics of each batch)."""
        device = torch.device(device)
        generator = self.generator.to(device)
        multiple = 2 ** int(getattr(generator, "depth", 0))
        if any(n % multiple for n in images.shape[1:]):
            raise EmganError(f"images are {images.shape[2]}×{images.shape[1]} pixels but this U-Net needs "
                             f"sizes divisible by {multiple}: crop or pad the particles", "images")
        inferer = BatchInferer(batch_size or self.eval.batch_size, device)

        def run(chunk):
            s = Standardiser.of(chunk, per_sample=True)
            y = generator(inferer.tensor(s.apply(chunk)[:, None])).float().cpu().numpy()[:, 0]
            return s.invert(y, self.scale)

        with test_time(generator, mode=self.test_mode):
            return inferer(run, images)

    def infer(self, source: Any, device: str | torch.device = "cpu", star: ParticleTable | None = None) -> ImageStack:
        """Denoise an .mrcs stack (``star``: its particle table, for a headerless pixel size) or
        every particle of a STAR file, in STAR order."""
        if isinstance(source, ImageStack):
            stack = source
        elif str(source).lower().endswith(".star"):
            table = star if star is not None else read_particle_star(source)
            stack = ImageStack(read_particle_images(table), float(table.rows["pixel_size"].iloc[0]))
        else:
            pixel = None
            if star is not None:
                pixel = float(star.rows["pixel_size"][stack_rows(star, source)].iloc[0])
            stack = read_image_stack(source, pixel)
        trained = self.pixel_size
        if trained and not np.isclose(stack.pixel_size, trained, rtol=0.02):
            raise EmganError(f"images are {stack.pixel_size:.3f} Å/pixel but the model was trained at "
                             f"{trained:.3f} Å/pixel; rescale the particles first", str(source))
        return ImageStack(self.denoise(stack.data, device=device), stack.pixel_size)
