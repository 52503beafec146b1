"""``task/diffragan``: pix2pix on (diffraction pattern, low-res image) → high-res image.

Data (recipe ``data.train`` / ``data.val``), lists of items:

- ``{dataset: DIR/name.zarr}``: a built triplet store; ``indices: [start, stop]`` picks a range.
- ``{structure: PDB/mmCIF, orientations: N}``: built on first use (or resumed) with the recipe's
  ``simulator/abtem-triplet`` into the emgan cache (``$EMGAN_CACHE/data/diffragan-triplets/``, or
  the folder ``data.cache``) by ``data.workers`` Dask processes (2), or the scheduler at
  ``data.scheduler``, and read from there afterwards; ``mode`` ``grid`` (default) or ``random``
  with ``seed``.

Normalisation, per triplet: the diffraction pattern becomes log(1 + I / mean I) (``diffraction:
log``) or stays linear, then each of the three images is mapped to [-1, 1] by its min and max
(the generator's tanh range). The generated image is in those units; FRC is blind to them and
SSIM/PSNR are computed after a least-squares fit onto the truth.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from emgan_core.api import (
    BatchInferer,
    EmganError,
    ImageStack,
    InputPath,
    PairedTask,
    SeededSamples,
    check_test_mode,
    normalise,
    require_record,
    test_time,
)

from .dataset import TripletStore, build_dataset, store_path
from .simulator import TripletSimulator


@dataclass
class TripletSource:
    """A ``data.train``/``data.val`` item: a built triplet store (``dataset``, ``indices`` [start,
    stop] for a range), or a ``structure`` (PDB/mmCIF) to simulate ``orientations`` triplets of, on
    a Z-Y-Z ``grid`` or at ``random`` orientations drawn with ``seed``."""

    dataset: InputPath | None = None
    indices: list[int] | None = None
    structure: InputPath | None = None
    orientations: int | None = None
    mode: Literal["grid", "random"] = "grid"
    seed: int = 0




def to_unit_range(images: np.ndarray) -> np.ndarray:
    """Per image (n, y, x), min → −1 and max → +1 (a constant image → 0)."""
    return normalise(images, "signed-minmax", per_sample=True)


def normalise_images(images: np.ndarray, mode: str, scale: float = 1.0) -> np.ndarray:
    """``minmax`` → [-1, 1] per image, or ``zscore`` divided by ``scale``."""
    if mode not in ("minmax", "zscore"):
        raise EmganError(f"image normalisation must be 'minmax' or 'zscore', got {mode!r}", "images")
    return normalise(images, "signed-minmax" if mode == "minmax" else "zscore", scale, per_sample=True)


def phase_extended(diffraction: np.ndarray, low: np.ndarray, pattern_k: float, pixel_size: float) -> np.ndarray:
    """(n, y, x) images with the diffraction pattern's amplitudes and the low-res image's phases (a
    Fourier-domain input: classical phase extension's starting point).

    Each Fourier coefficient k of the image grid (``np.fft.fftfreq`` at ``pixel_size`` Å) takes the
    amplitude √I(k) of the pattern, read (bilinear) at pattern pixel (s − 1)/2 + k / ``pattern_k``
    (``pattern_k``: Å⁻¹ per pattern pixel, i.e. mrad per pixel / (1000 λ)), and the phase of the FFT
    of the low-res image minus its mean; k = 0 (the blocked zeroth order) stays 0.
    """
    from scipy.ndimage import map_coordinates

    n, sy, sx = low.shape
    ky = np.fft.fftfreq(sy, pixel_size)[:, None] * np.ones((1, sx))
    kx = np.fft.fftfreq(sx, pixel_size)[None, :] * np.ones((sy, 1))
    coords = [(diffraction.shape[-2] - 1) / 2 + ky / pattern_k, (diffraction.shape[-1] - 1) / 2 + kx / pattern_k]
    out = np.empty(low.shape, np.float32)
    for i in range(n):
        amplitude = np.sqrt(np.clip(map_coordinates(np.asarray(diffraction[i], np.float64), coords, order=1,
                                                    mode="constant"), 0, None))
        spectrum = np.fft.fft2(np.asarray(low[i], np.float64) - float(np.mean(low[i])))
        out[i] = np.fft.ifft2(amplitude * np.exp(1j * np.angle(spectrum))).real
    return out


def network_inputs(diffraction: np.ndarray, low: np.ndarray, mode: str = "log",
                   images: str = "minmax", hybrid: tuple[float, float] | None = None) -> np.ndarray:
    """(n, 2, y, x) generator input from (n, y, x) diffraction patterns and low-res images; with
    ``hybrid`` = (Å⁻¹ per pattern pixel, image Å/pixel) a third channel, :func:`phase_extended`."""
    d = np.asarray(diffraction, np.float64)
    if mode == "log":
        mean = d.reshape(len(d), -1).mean(1)[:, None, None]
        d = np.log1p(d / np.where(mean > 0, mean, 1.0))
    elif mode != "linear":
        raise EmganError(f"diffraction normalisation must be 'log' or 'linear', got {mode!r}", "diffraction")
    channels = [to_unit_range(d), normalise_images(low, images)]
    if hybrid is not None:
        channels.append(to_unit_range(phase_extended(diffraction, low, *hybrid)))
    return np.stack(channels, axis=1)


class TripletImages(SeededSamples):
    """{"input": (2, y, x), "target": (1, y, x)} float32; training items are random triplets turned
    by random quarter turns (a change of psi) when ``augment`` has ``rot90`` and mirrored when it has
    ``flips`` (the mirror image of the protein: the shipped recipes do not ask for it)."""

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, length: int | None = None, seed: int = 0,
                 augment=None):
        self.inputs, self.targets = inputs, targets
        super().__init__(len(inputs), length, seed, augment, spatial_dims=2, what="triplets")

    def draw(self, j: int, rng) -> dict:
        return {"input": self.inputs[j], "target": self.targets[j][None]}


class DiffraGANTask(PairedTask):
    """DiffraGAN: the critic judges (diffraction, low-res, high-res or generated) stacked.

    Args:
        diffraction: ``log`` (default) or ``linear`` scaling of the pattern before [-1, 1].
        images: low-res input and high-res target per image to [-1, 1] (``minmax``, default) or
            z-scored (``zscore``), the target then divided by ``scale`` for the tanh's headroom.
        test_mode: ``pix2pix`` (default: dropout on and batch statistics at test time, as pix2pix
            and the authors' code) or ``eval`` (:func:`emgan_core.inference.test_time`).
        hybrid: add a third input channel, the pattern's amplitudes with the low-res image's phases
            (:func:`phase_extended`; not in the paper; the generator then needs ``in_channels: 3``
            and the critic ``in_channels: 4``).
    """

    #: triplet items, and where structure items are built: ``cache`` folder (instead of the emgan
    #: cache), ``workers`` (local Dask processes) or the address of a running Dask ``scheduler``
    data_keys = {"train": list[TripletSource], "val": list[TripletSource] | None, "cache": str | None,
                 "workers": int, "scheduler": str | None}

    eval_defaults = {"batch_size": 16}  # triplets per forward pass

    def __init__(self, diffraction: Literal["log", "linear"] = "log", images: Literal["minmax", "zscore"] = "minmax",
                 scale: float = 3.0, test_mode: Literal["pix2pix", "eval"] = "pix2pix", hybrid: bool = False):
        super().__init__(conditional=True, normalise="none", spatial_dims=2)
        self._folders = {}
        if diffraction not in ("log", "linear"):
            raise ValueError(f"diffraction must be 'log' or 'linear', got {diffraction!r}")
        if images not in ("minmax", "zscore"):
            raise ValueError(f"images must be 'minmax' or 'zscore', got {images!r}")
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.diffraction, self.images, self.scale = diffraction, images, float(scale)
        self.test_mode = check_test_mode(test_mode)
        self.hybrid, self.geometry = bool(hybrid), None

    # -- data -------------------------------------------------------------------------------------

    def _build(self, items: list[tuple[dict, str]], split: str) -> None:
        """Build (or resume) the stores of all structure items, one Dask cluster per plan, each plan
        into its own entry of the emgan cache (``data.cache`` when given) keyed by the structures
        (paths and bytes), the plan and the simulator's settings, so other physics or another
        structure never meets a stale store. The first training plan sets the low-res dose (band
        SNR ``low_snr`` over its triplets); every other plan, validation included, is simulated at
        that dose: one microscope, one dose."""
        from emgan_core.api import Progress, build_cached

        from . import __version__
        from .dataset import FORMAT

        plans: dict[tuple, list] = {}
        for item, where in items:
            if "dataset" not in item:
                if "structure" not in item:
                    raise EmganError("each item needs 'dataset' (a built .zarr) or 'structure' + 'orientations'",
                                     where)
                plans.setdefault(self._plan_key(item, where), []).append(item)
        for key, group in plans.items():
            mode, count, seed = key
            simulator = self._simulator_for(split, key)
            structures = sorted({str(i["structure"]) for i in group})
            names = ", ".join(Path(s).stem for s in structures)

            def build(tmp: Path, structures=structures, simulator=simulator, names=names) -> None:
                done: dict[Path, int] = {}
                with Progress(f"simulating triplets of {names}", count * len(structures), unit="triplet") as bar:
                    def on_chunk(path, computed, total):
                        done[path] = computed
                        bar.update(sum(done.values()) - bar.done)

                    reports = build_dataset(structures, tmp, count, simulator, mode=mode, seed=seed,
                                            workers=int(self.data.get("workers", 2)),
                                            scheduler=self.data.get("scheduler"), on_chunk=on_chunk)
                print(f"emgan: {sum(r.computed for r in reports)} triplets simulated "
                      f"({sum(r.skipped for r in reports)} resumed); low-res dose {reports[0].dose:.4g} e/Å²",
                      file=sys.stderr, flush=True)

            settings = {"format": FORMAT, "plugin": __version__, "simulator": simulator.settings(),
                        "mode": mode, "count": count, "seed": seed}
            folder = build_cached("diffragan-triplets", settings, build, files=structures,
                                  name=f"{mode}-{count}-seed{seed}", folder=self.data.get("cache"), resumable=True,
                                  what=f"{count} triplets each of {names} ({mode}, seed {seed})")
            self._folders[(split, key)] = folder
            if self._dose is None:
                self._dose = TripletStore(store_path(folder, structures[0])).dose

    _dose: float | None = None

    def _plan_key(self, item: dict, where: str) -> tuple:
        count = int(item.get("orientations", 0))
        if count < 1:
            raise EmganError("a structure item needs orientations >= 1", where)
        return (item.get("mode", "grid"), count, int(item.get("seed", 0)))

    def _simulator_for(self, split: str, key: tuple | None = None) -> TripletSimulator:
        """The recipe's simulator, or (after the first training plan) one fixed at its dose."""
        if not isinstance(self.simulator, TripletSimulator):
            raise EmganError("structure items need 'simulator: {name: abtem-triplet, ...}'", "simulator")
        if self._dose is None:
            if split != "train" and (self.data.get("train") or []):
                self._split("train")  # the training plans fix the dose first
            if self._dose is None:
                return self.simulator
        return self.simulator.with_dose(self._dose)

    def _store(self, item: dict, where: str, split: str) -> TripletStore:
        if "dataset" in item:
            store = TripletStore(item["dataset"])
            if split == "train" and self._dose is None:
                self._dose = store.dose
            return store
        store = TripletStore(store_path(self._folders[(split, self._plan_key(item, where))], item["structure"]))
        if split == "train" and self._dose is None:
            self._dose = store.dose
        return store

    @functools.lru_cache(maxsize=64)
    def _arrays(self, key: tuple):
        item, where, split = dict(key[0]), key[1], key[2]
        store = self._store(item, where, split)
        self._check_phasing(store)
        indices = None
        if "indices" in item:
            lo, hi = (list(item["indices"]) + [None])[:2]
            indices = np.arange(len(store))[slice(lo, hi)]
        arrays = store.load(indices)
        return (network_inputs(arrays["diffraction"], arrays["low"], self.diffraction, self.images,
                               self._hybrid_geometry(store)),
                normalise_images(arrays["high"], self.images, self.scale), store.pixel_size)

    def _check_phasing(self, store: TripletStore) -> None:
        """A generator that phases the pattern itself (``generator/diffragan-phasing-unet``) needs the
        pattern linear in intensity, no hybrid channel, and the store's geometry; else one line."""
        g = getattr(self.generator, "module", self.generator)
        if not hasattr(g, "pattern_k"):
            return
        if self.diffraction != "linear":
            raise EmganError("the phasing generator needs the pattern's intensities: set diffraction: linear",
                             "task.params.diffraction")
        if self.hybrid:
            raise EmganError("the phasing generator makes its own Fourier-domain channel: set hybrid: false",
                             "task.params.hybrid")
        from emgan_core.api import electron_wavelength

        k = store.angular_sampling / (1000.0 * electron_wavelength(float(store.settings["energy"])))
        if not (np.isclose(g.pattern_k, k, rtol=0.01) and np.isclose(g.pixel_size, store.pixel_size, rtol=0.01)):
            raise EmganError(f"pattern_k {g.pattern_k:.6g} Å⁻¹/pixel and pixel_size {g.pixel_size:.6g} Å do not "
                             f"match the triplets ({k:.6g} Å⁻¹/pixel, {store.pixel_size:.6g} Å/pixel)",
                             "generator.params")

    def _hybrid_geometry(self, store: TripletStore) -> tuple[float, float] | None:
        """(Å⁻¹ per pattern pixel, Å/pixel) of a store when ``hybrid``, else None."""
        if not self.hybrid:
            return None
        from emgan_core.api import electron_wavelength

        wavelength = electron_wavelength(float(store.settings["energy"]))
        self.geometry = (store.angular_sampling / (1000.0 * wavelength), store.pixel_size)
        return self.geometry

    def _split(self, split: str):
        items = self.data.get(split) or []
        if not isinstance(items, list):
            raise EmganError("give a list of items", f"data.{split}")
        checked = []
        for i, item in enumerate(items):
            where = f"data.{split}.{i}"
            require_record(item, TripletSource, where)
            checked.append((item, where))
        self._build(checked, split)
        parts = []
        for item, where in checked:
            key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in item.items()))
            parts.append(self._arrays((key, where, split)))
        if not parts:
            return None
        sizes = {p[0].shape[-1] for p in parts}
        if len(sizes) > 1:
            raise EmganError(f"triplets of several sizes {sorted(sizes)}: use one image_size", f"data.{split}")
        self.pixel_size = parts[0][2]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def example_batch(self, batch_size: int, patch_size):
        return None  # whole triplet images, of the size the data were simulated at

    def example_inference_batch(self):
        return None

    def train_dataset(self, seed: int):
        arrays = self._split("train")
        if arrays is None:
            raise EmganError("no training items", "data.train")
        return TripletImages(*arrays, length=2**62, seed=seed,
                             augment=self.train.augment if self.train is not None else None)

    def val_dataset(self, seed: int):
        arrays = self._split("val")
        return TripletImages(*arrays) if arrays is not None else None

    def validation_extras(self, batch, fake):
        """The MSE of the generated image (in [-1, 1] target units)."""
        return {"val/mse": torch.nn.functional.mse_loss(fake, batch["target"])}

    def summaries(self, batch):
        with torch.no_grad():
            fake = self._generate(batch)
        return {"diffraction": batch["input"][0, 0].float().cpu().numpy(),
                "low": batch["input"][0, 1].float().cpu().numpy(),
                "generated": fake[0, 0].float().cpu().numpy(),
                "high": batch["target"][0, 0].float().cpu().numpy()}

    # -- inference --------------------------------------------------------------------------------

    def inference_spec(self) -> dict:
        return {"eval": self.eval.as_dict(), "diffraction": self.diffraction, "images": self.images,
                "scale": self.scale, "test_mode": self.test_mode, "hybrid": self.hybrid, "geometry": self.geometry,
                "pixel_size": getattr(self, "pixel_size", None)}

    def load_inference_spec(self, spec: dict) -> None:
        super().load_inference_spec(spec)
        self.pixel_size = spec.get("pixel_size")
        self.diffraction = spec.get("diffraction", self.diffraction)
        self.images, self.scale = spec.get("images", self.images), float(spec.get("scale", self.scale))
        self.test_mode = check_test_mode(spec.get("test_mode", self.test_mode))
        self.hybrid, self.geometry = bool(spec.get("hybrid", False)), spec.get("geometry")

    @torch.no_grad()
    def generate_images(self, diffraction: np.ndarray, low: np.ndarray, batch_size: int | None = None,
                 device: str | torch.device = "cpu", store: TripletStore | None = None,
                 phaser_only: bool = False) -> np.ndarray:
        """High-res images (n, y, x) in [-1, 1] from (n, y, x) diffraction patterns and low-res images,
        in batches of ``batch_size`` with the generator in ``self.test_mode`` (pix2pix: stochastic,
        batch statistics of each batch). ``phaser_only``: the phasing generator's classical phaser
        output (its third channel) instead: what the network adds to it."""
        device = torch.device(device)
        generator = self.generator.to(device)
        if diffraction.shape != low.shape:
            raise EmganError(f"diffraction {diffraction.shape} and low-res {low.shape} stacks differ", "inputs")
        multiple = 2 ** int(getattr(generator, "depth", 0))
        if diffraction.shape[-1] % multiple or diffraction.shape[-2] % multiple:
            raise EmganError(f"images are {diffraction.shape[-1]} pixels but this U-Net needs sizes divisible "
                             f"by {multiple}", "inputs")
        inferer = BatchInferer(batch_size or self.eval.batch_size, device)
        hybrid = (self._hybrid_geometry(store) if store is not None else tuple(self.geometry)) if self.hybrid else None

        if phaser_only and not hasattr(generator, "phased"):
            raise EmganError("this generator has no classical phaser (generator/diffragan-phasing-unet has)",
                             "phaser_only")

        def run(d, lo):
            x = inferer.tensor(network_inputs(d, lo, self.diffraction, self.images, hybrid))
            return (generator.phased(x) if phaser_only else generator(x))[:, 0]

        with test_time(generator, mode=self.test_mode):
            return inferer(run, diffraction, low)

    def infer(self, source: Any, device: str | torch.device = "cpu", indices=None, pattern: Literal["true", "swapped", "blank"] = "true",
              phaser_only: bool = False) -> ImageStack:
        """Generated high-res images of a triplet store's finished triplets (``indices``: a subset).

        ``pattern``: each triplet's own diffraction pattern (``true``), the pattern of the previous
        triplet (``swapped``: the control that shows what the particular pattern contributes), or a
        blank one (``blank``). ``phaser_only``: the classical phaser's images alone (phasing
        generators)."""
        store = source if isinstance(source, TripletStore) else TripletStore(source)
        trained = getattr(self, "pixel_size", None)
        if trained and not np.isclose(store.pixel_size, trained, rtol=0.02):
            raise EmganError(f"triplets are {store.pixel_size:.3f} Å/pixel but the model was trained at "
                             f"{trained:.3f} Å/pixel", str(store.path))
        self._check_phasing(store)
        arrays = store.load(indices)
        diffraction = swap_patterns(arrays["diffraction"], pattern, str(store.path))
        return ImageStack(self.generate_images(diffraction, arrays["low"], None, device, store, phaser_only),
                          store.pixel_size)


def swap_patterns(diffraction: np.ndarray, pattern: str, where: str) -> np.ndarray:
    """(n, y, x) patterns as ``pattern`` asks: ``true`` unchanged, ``swapped`` triplet i gets triplet
    i − 1's, ``blank`` all zero."""
    if pattern == "true":
        return diffraction
    if pattern == "blank":
        return np.zeros_like(diffraction)
    if pattern != "swapped":
        raise EmganError(f"pattern must be 'true', 'swapped' or 'blank', got {pattern!r}", "pattern")
    if len(diffraction) < 2:
        raise EmganError("swapping patterns needs at least 2 triplets", where)
    return np.roll(diffraction, 1, axis=0)
