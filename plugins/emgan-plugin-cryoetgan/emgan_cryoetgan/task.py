"""CryoETGAN's two tasks: ``task/cycle``, the unpaired translation between domains (CycleGAN, Zhu et
al. 2017; CryoETGAN's Wasserstein version, Wu et al. 2022), and ``task/classify``, the downstream
classifier that scores it, with the seeded datasets they draw from.

``task/cycle``: G_ab maps domain A to B, G_ba maps B to A; critic_a judges A samples, critic_b B samples. The
critics minimise the recipe's adversarial loss (``wasserstein`` with ``train.weight_clip`` and
RMSprop as in the paper; ``train.gradient_penalty`` optional), the generators its generator side in
both directions plus ``cycle_weight`` · (|G_ba(G_ab(a)) − a|₁ + |G_ab(G_ba(b)) − b|₁) and, if asked,
``identity_weight`` · (|G_ab(b) − b|₁ + |G_ba(a) − a|₁). ``noise_sigma`` adds zero-mean Gaussian
noise to the domain-A maps (CryoETGAN's density maps, Table 3 of the paper: σ = 0.2 best) wherever
they enter the game: training draws, validation and translation from A to B.

Data (recipe ``data``): ``train: {a: [ITEM…], b: [ITEM…]}`` and optionally ``val`` alike, an item
being a set table (CSV/STAR, ``{set: TABLE, column: NAME}``), an .mrcs stack (2D), one map, or a
set simulated on first use into the emgan cache (``{structures: [PDB…], count: N, seed: S,
column: NAME}``, :class:`SimulatedSet`).
Labels are not used: the domains are unpaired. Samples are normalised one by one to units of
``scale`` standard deviations about their mean; generated samples are returned in those units × scale
(i.e. in standard deviations).

``task/classify``: supervised training of a registered classifier on labelled sample sets.

Data (recipe ``data``): ``train`` and optionally ``val``, lists of set tables (CSV/STAR, or
``{set: TABLE, column: NAME}``) whose ``label`` column names each sample's class. The classes are
the sorted training labels; the classifier's ``n_classes`` must match. Loss: cross-entropy (with
``label_smoothing``). The trained classifier gives class probabilities (accuracy, Inception
Score) and embeddings (FID, PRDC) through :meth:`ClassifyTask.predict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import torch
import torch.nn.functional as F

from emgan_core.api import (
    BatchInferer,
    EmganError,
    EvalSettings,
    ImageStack,
    InputPath,
    LabelledSet,
    Range,
    SeededSamples,
    Task,
    Volume,
    normalise,
    read_samples,
    require_record,
)

from .simulator import SubtomogramSimulator


@dataclass
class SampleSet:
    """A data item naming a set table (CSV/STAR) and the ``column`` of its sample paths; a plain
    path (a table, an .mrcs stack or one map) is an item too."""

    set: InputPath
    column: str | None = None


@dataclass
class SimulatedSet:
    """A data item simulated on first use with the recipe's ``simulator/subtomogram`` into the emgan
    cache (``data.cache`` when given) and read from there afterwards: ``count`` particles of each
    of ``structures`` drawn with ``seed``, and the ``column`` used (``density``: the noise-free
    maps, domain A; ``subtomogram``: domain B; ``conventional``: the conventional simulation of
    the same particles). The set is that of ``emgan cryoetgan simulate-set STRUCTURES -n COUNT
    --seed SEED --conventional``."""

    structures: list[InputPath]
    count: Annotated[int, Range(min=1)]
    column: Literal["density", "subtomogram", "conventional"]
    seed: int = 0


#: the items of one domain (or of a classifier's split)
Samples = list[SampleSet | SimulatedSet | InputPath] | SampleSet | SimulatedSet | InputPath


def _simulated_as_tables(items, simulator, cache: str | None, where: str):
    """``items`` (one or a list) with each :class:`SimulatedSet` replaced by ``{set: TABLE, column}``,
    its set simulated into the cache first if it is not there yet."""
    single = not isinstance(items, list)
    out = []
    for i, item in enumerate([items] if single else items):
        if isinstance(item, dict) and "structures" in item:
            place = where if single else f"{where}.{i}"
            require_record(item, SimulatedSet, place)
            if not isinstance(simulator, SubtomogramSimulator):
                raise EmganError("simulated items need the recipe's 'simulator: {name: subtomogram, ...}'", place)
            from .sets import cached_set

            table = cached_set(simulator, item["structures"], int(item["count"]), seed=int(item.get("seed", 0)),
                               conventional=True, folder=cache)
            item = {"set": str(table), "column": item["column"]}
        out.append(item)
    return out[0] if single else out


@dataclass
class Domains:
    """``data.train``/``data.val`` of ``task/cycle``: the unpaired samples of domain ``a`` and ``b``."""

    a: Samples
    b: Samples


def add_noise(sample: np.ndarray, sigma: float, scale: float, rng: np.random.Generator) -> np.ndarray:
    """A sample (already z-scored ÷ ``scale``) plus zero-mean Gaussian noise of ``sigma`` standard deviations of
    the sample (so σ/scale in normalised units): CryoETGAN's noise on the density maps."""
    if not sigma:
        return sample
    return (sample + rng.standard_normal(sample.shape) * (sigma / scale)).astype(np.float32)


class UnpairedSamples(SeededSamples):
    """Item ``i``: {"a": (1, *S), "b": (1, *S)}, a random sample of each domain drawn independently,
    flipped if ``flips``; for validation (``length`` None) the first min(len(a), len(b)) samples in
    order, pairs (i, i). ``noise_a``: σ of the Gaussian noise added to every domain-A sample after
    normalisation, in the sample's standard deviations (:func:`add_noise`), fresh at each draw."""

    def __init__(self, a: np.ndarray, b: np.ndarray, scale: float, length: int | None = None, seed: int = 0,
                 flips: bool = False, noise_a: float = 0.0):
        self.a, self.b, self.scale, self.noise_a = a, b, float(scale), float(noise_a)
        super().__init__(min(len(a), len(b)), length, seed, {"flips": flips}, spatial_dims=a.ndim - 1,
                         what="samples in both domains")

    def pick(self, rng) -> tuple[int, int]:
        return int(rng.integers(len(self.a))), int(rng.integers(len(self.b)))

    def draw(self, key, rng) -> dict:
        ia, ib = (key, key) if isinstance(key, int) else key
        a = add_noise(normalise(self.a[ia], "zscore", self.scale), self.noise_a, self.scale, rng)
        return {"a": a[None], "b": normalise(self.b[ib], "zscore", self.scale)[None]}


class LabelledSamples(SeededSamples):
    """Item ``i``: {"x": (1, *S), "y": class index}; random draws, flipped if ``flips``, when
    ``length`` is given, else every sample once in order."""

    def __init__(self, samples: np.ndarray, classes: np.ndarray, scale: float, length: int | None = None,
                 seed: int = 0, flips: bool = False):
        self.samples, self.classes, self.scale = samples, np.asarray(classes, np.int64), float(scale)
        super().__init__(len(samples), length, seed, {"flips": flips}, spatial_dims=samples.ndim - 1)

    def draw(self, i: int, rng) -> dict:
        return {"x": normalise(self.samples[i], "zscore", self.scale)[None], "y": int(self.classes[i])}


def _gather(items, where: str, spatial_dims: int) -> LabelledSet:
    if isinstance(items, (str, dict)):
        items = [items]
    if not items:
        raise EmganError("no samples", where)
    sets = [read_samples(item, f"{where}.{i}") for i, item in enumerate(items)]
    shapes = {s.samples.shape[1:] for s in sets}
    if len(shapes) > 1:
        raise EmganError(f"samples of several shapes {sorted(shapes)}", where)
    shape = next(iter(shapes))
    if len(shape) != spatial_dims:
        raise EmganError(f"samples are {len(shape)}D but the task has spatial_dims {spatial_dims}", where)
    if any(n % 4 for n in shape):
        raise EmganError(f"sample size {shape} must be a multiple of 4 (two 2× down-samplings)", where)
    return LabelledSet(np.concatenate([s.samples for s in sets]), np.concatenate([s.labels for s in sets]),
                       sets[0].voxel_size, sets[0].table)


def _gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017), E[(‖∇ₓ D(x̂)‖₂ − 1)²] at random interpolates x̂ of real and
    fake, where D(x) is the sample's score as the Wasserstein loss sees it: the mean of the critic's
    patch scores (the paper's stride-1 critic gives 13³ of them for a 16³ box; penalising their sum
    would ask a gradient ~2,000 times too small)."""
    alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(mixed).flatten(1).mean(1)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


class CycleTask(Task):
    """Cycle-consistent GAN between domains A and B.

    Args:
        cycle_weight: λ of the cycle L1 terms (10 in CycleGAN). identity_weight: of the identity
            terms (0: off). scale: normalisation headroom (standard deviations mapped to ±1).
        spatial_dims: 3 (subtomograms) or 2 (images). flips: random axis flips when training.
        direction: default of inference, ``ab`` or ``ba``.
        noise_sigma: σ of the zero-mean Gaussian noise added to each domain-A map, in standard
            deviations of that map (0: none; the paper's best is 0.2). Drawn afresh for every
            training sample; seeded per sample (``noise_seed``) when translating A to B.
    """

    #: ``cache``: where simulated items' sets go instead of the emgan cache
    data_keys = {"train": Domains, "val": Domains | None, "cache": str | None}
    roles = {"generator_ab": "generator", "generator_ba": "generator", "critic_a": "critic", "critic_b": "critic"}
    optional_roles = frozenset()
    eval_defaults = {"batch_size": 8}  # whole samples per forward pass

    def __init__(self, cycle_weight: float = 10.0, identity_weight: float = 0.0, scale: float = 3.0,
                 spatial_dims: Literal[2, 3] = 3, flips: bool = True, direction: Literal["ab", "ba"] = "ab",
                 noise_sigma: float = 0.0):
        if cycle_weight < 0 or identity_weight < 0 or not scale > 0 or not noise_sigma >= 0:
            raise ValueError("cycle_weight, identity_weight and noise_sigma must be >= 0, scale > 0")
        self.noise_sigma = float(noise_sigma)
        if direction not in ("ab", "ba"):
            raise ValueError(f"direction must be 'ab' or 'ba', got {direction!r}")
        self.cycle_weight, self.identity_weight, self.scale = float(cycle_weight), float(identity_weight), float(scale)
        self.spatial_dims, self.flips, self.direction = int(spatial_dims), bool(flips), direction
        self.eval = EvalSettings.from_mapping({}, self.eval_defaults)
        self.voxel_size = 1.0
        self.trained_voxel_size = None  # Å/voxel of the training set, from a checkpoint

    def bind(self, networks, losses, train=None, data=None, eval=None, simulator=None):
        super().bind(networks, losses, train, data, eval, simulator)
        adversarial = [(loss, w) for loss, w in losses if loss.adversarial]
        if len(adversarial) != 1 or len(losses) != 1:
            raise EmganError("task/cycle takes exactly one adversarial loss (e.g. wasserstein); the cycle "
                             "and identity weights are task params", "losses")
        self.adversarial = adversarial[0]

    # -- data -------------------------------------------------------------------------------------

    def _domains(self, split: str):
        section = self.data.get(split)
        if not section:
            return None
        if not isinstance(section, dict) or set(section) != {"a", "b"}:
            raise EmganError("give {a: [items], b: [items]}", f"data.{split}")
        cache = self.data.get("cache")
        a, b = (_gather(_simulated_as_tables(section[d], self.simulator, cache, f"data.{split}.{d}"),
                        f"data.{split}.{d}", self.spatial_dims) for d in ("a", "b"))
        if a.samples.shape[1:] != b.samples.shape[1:]:
            raise EmganError(f"domain A samples are {a.samples.shape[1:]}, domain B {b.samples.shape[1:]}: "
                             "use one box", f"data.{split}")
        self.voxel_size = b.voxel_size
        return a, b

    def train_dataset(self, seed: int):
        domains = self._domains("train")
        if domains is None:
            raise EmganError("no training data", "data.train")
        return UnpairedSamples(domains[0].samples, domains[1].samples, self.scale, 2**62, seed, self.flips,
                               self.noise_sigma)

    def val_dataset(self, seed: int):
        domains = self._domains("val")
        if domains is None:
            return None
        n = self.train.val_batches * self.train.batch_size
        return UnpairedSamples(domains[0].samples[:n], domains[1].samples[:n], self.scale, seed=seed,
                               noise_a=self.noise_sigma)

    # -- the game ---------------------------------------------------------------------------------

    def _fakes(self, batch):
        return self.networks["generator_ab"](batch["a"]), self.networks["generator_ba"](batch["b"])

    def generate(self, batch):
        """(G_ab(a), G_ba(b))."""
        return self._fakes(batch)

    def critic_losses(self, batch, generated):
        fake_b, fake_a = generated
        loss, weight = self.adversarial
        terms = {}
        gp = getattr(self.train, "gradient_penalty", None)
        for side, real, fake in (("a", batch["a"], fake_a.detach()), ("b", batch["b"], fake_b.detach())):
            critic = self.networks[f"critic_{side}"]
            real_logits, fake_logits = critic(torch.cat([real, fake])).split(real.shape[0])
            terms[f"critic/adversarial_{side}"] = weight * loss.critic_loss(real_logits, fake_logits)
            if gp:
                terms[f"critic/gradient_penalty_{side}"] = gp * _gradient_penalty(critic, real, fake)
        return terms

    def generator_losses(self, batch, generated):
        fake_b, fake_a = generated
        g_ab, g_ba = self.networks["generator_ab"], self.networks["generator_ba"]
        loss, weight = self.adversarial
        terms = {"generator/adversarial_b": weight * loss.generator_loss(self.networks["critic_b"](fake_b)),
                 "generator/adversarial_a": weight * loss.generator_loss(self.networks["critic_a"](fake_a)),
                 "generator/cycle": self.cycle_weight * (F.l1_loss(g_ba(fake_b), batch["a"])
                                                         + F.l1_loss(g_ab(fake_a), batch["b"]))}
        if self.identity_weight:
            terms["generator/identity"] = self.identity_weight * (F.l1_loss(g_ab(batch["b"]), batch["b"])
                                                                  + F.l1_loss(g_ba(batch["a"]), batch["a"]))
        return terms

    def validation_losses(self, batch):
        fake_b, fake_a = self._fakes(batch)
        g_ab, g_ba = self.networks["generator_ab"], self.networks["generator_ba"]
        return {"val/cycle_a": F.l1_loss(g_ba(fake_b), batch["a"]), "val/cycle_b": F.l1_loss(g_ab(fake_a), batch["b"]),
                "val/output_std_b": fake_b.std(), "val/output_std_a": fake_a.std()}

    def summaries(self, batch):
        one = {k: v[:1] for k, v in batch.items()}
        with torch.no_grad():
            fake_b, fake_a = self._fakes(one)
        pick = (lambda t: t[0, 0, t.shape[2] // 2]) if self.spatial_dims == 3 else (lambda t: t[0, 0])
        return {name: pick(t).float().cpu().numpy() for name, t in
                (("a", one["a"]), ("a_to_b", fake_b), ("b", one["b"]), ("b_to_a", fake_a))}

    # -- inference --------------------------------------------------------------------------------

    def inference_spec(self):
        return {**super().inference_spec(), "scale": self.scale, "spatial_dims": self.spatial_dims,
                "direction": self.direction, "noise_sigma": self.noise_sigma, "voxel_size": self.voxel_size}

    def load_inference_spec(self, spec):
        super().load_inference_spec(spec)
        self.trained_voxel_size = spec.get("voxel_size")
        self.scale = float(spec.get("scale", self.scale))
        self.spatial_dims = int(spec.get("spatial_dims", self.spatial_dims))
        self.direction = spec.get("direction", self.direction)
        self.voxel_size = float(spec.get("voxel_size", self.voxel_size))
        self.noise_sigma = float(spec.get("noise_sigma", 0.0))

    def check_voxel_size(self, size, where: str) -> None:
        """Refuse samples at another sampling than the training set's (a translator learns textures
        at one Å/voxel); checkpoints record it in their inference spec."""
        trained = self.trained_voxel_size
        if trained and not np.allclose(np.asarray(size, float), trained, rtol=0.02):
            shown = "×".join(f"{v:.3g}" for v in np.atleast_1d(np.asarray(size, float)))
            raise EmganError(f"samples are {shown} Å/voxel but the model was trained at {trained:.3g} Å/voxel; "
                             "resample them first", where)

    @torch.no_grad()
    def translate(self, samples: np.ndarray, direction: str | None = None, batch_size: int | None = None,
                  device: str | torch.device = "cpu", noise_seed: int = 0) -> np.ndarray:
        """Map (N, *S) samples of one domain to the other (``ab`` or ``ba``); output in standard
        deviations of the target domain's normalisation. From A, each map first gets the training
        noise (``noise_sigma``), drawn from a generator seeded by (``noise_seed``, index)."""
        direction = direction or self.direction
        if direction not in ("ab", "ba"):
            raise EmganError(f"direction must be 'ab' or 'ba', got {direction!r}", "direction")
        if samples.ndim != self.spatial_dims + 1 or any(n % 4 for n in samples.shape[1:]):
            raise EmganError(f"samples {samples.shape[1:]} must be {self.spatial_dims}D with sizes that are "
                             "multiples of 4", "samples")
        generator = self.networks[f"generator_{direction}"].to(device).eval()
        inferer = BatchInferer(batch_size or self.eval.batch_size, device)
        noisy = direction == "ab" and self.noise_sigma
        index = np.arange(len(samples))

        def run(chunk, idx):
            x = normalise(chunk, "zscore", self.scale, per_sample=True)
            if noisy:
                x = np.stack([add_noise(v, self.noise_sigma, self.scale, np.random.default_rng([noise_seed, int(j)]))
                              for v, j in zip(x, idx)])
            return generator(inferer.tensor(x[:, None]))[:, 0] * self.scale

        return inferer(run, samples, index)

    def infer(self, source, device: str | torch.device = "cpu", direction: str | None = None):
        """Translate one map, every image of an .mrcs stack or every sample of a set (labels carried
        over) in ``direction`` (default: the recipe's)."""
        if isinstance(source, LabelledSet):
            self.check_voxel_size(source.voxel_size, "the set")
            return source.with_samples(self.translate(source.samples, direction, device=device))
        if isinstance(source, (Volume, ImageStack)):
            value = source
        else:
            from emgan_core.api import read_any

            value = read_any(source)
        self.check_voxel_size(value.pixel_size if isinstance(value, ImageStack) else value.voxel_size,
                               str(source) if not isinstance(source, (Volume, ImageStack)) else "the input")
        if isinstance(value, ImageStack):
            return ImageStack(self.translate(value.data, direction, device=device), value.pixel_size)
        return value.with_data(self.translate(value.data[None], direction, device=device)[0])


class ClassifyTask(Task):
    """Cross-entropy classification of (z, y, x) samples (or (y, x) images).

    Args:
        scale: per-sample normalisation headroom, as ``task/cycle``. flips: random axis flips.
        label_smoothing: of the cross-entropy.
    """

    #: ``cache``: where simulated items' sets go instead of the emgan cache
    data_keys = {"train": Samples, "val": Samples | None, "cache": str | None}
    roles = {"classifier": "classifier"}
    optional_roles = frozenset()

    def __init__(self, scale: float = 3.0, flips: bool = True, label_smoothing: float = 0.0):
        if not scale > 0 or not 0 <= label_smoothing < 1:
            raise ValueError("scale must be > 0 and label_smoothing in [0, 1)")
        self.scale, self.flips, self.label_smoothing = float(scale), bool(flips), float(label_smoothing)
        self.classes: list[str] = []
        self.eval = EvalSettings.from_mapping({}, self.eval_defaults)

    def bind(self, networks, losses, train=None, data=None, eval=None, simulator=None):
        super().bind(networks, losses, train, data, eval, simulator)
        if losses:
            raise EmganError("task/classify uses cross-entropy: remove the losses section", "losses")

    @property
    def classifier(self):
        return self.networks["classifier"]

    # -- data -------------------------------------------------------------------------------------

    def _set(self, split: str) -> LabelledSet | None:
        items = self.data.get(split)
        if not items:
            return None
        items = [items] if isinstance(items, (str, dict)) else items
        items = _simulated_as_tables(items, self.simulator, self.data.get("cache"), f"data.{split}")
        sets = [read_samples(item, f"data.{split}.{i}") for i, item in enumerate(items)]
        for i, s in enumerate(sets):
            if (s.labels == "").any():
                raise EmganError("samples without a label: give a table with a 'label' column", f"data.{split}.{i}")
        return LabelledSet(np.concatenate([s.samples for s in sets]), np.concatenate([s.labels for s in sets]),
                           sets[0].voxel_size, sets[0].table)

    def class_indices(self, labels: np.ndarray, where: str) -> np.ndarray:
        """Labels as indices into :attr:`classes`; a label the classifier does not know is an error."""
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise EmganError(f"labels {unknown} are not among the trained classes {self.classes}", where)
        return np.array([index[c] for c in labels], np.int64)

    def train_dataset(self, seed: int):
        data = self._set("train")
        if data is None:
            raise EmganError("no training data", "data.train")
        self.classes = sorted(set(data.labels))
        n = getattr(getattr(self.classifier, "module", self.classifier), "n_classes", None)
        if n != len(self.classes):
            raise EmganError(f"the classifier has n_classes {n} but the training data has {len(self.classes)} "
                             f"classes ({', '.join(self.classes)})", "classifier.params.n_classes")
        return LabelledSamples(data.samples, self.class_indices(data.labels, "data.train"), self.scale, 2**62,
                               seed, self.flips)

    def val_dataset(self, seed: int):
        data = self._set("val")
        if data is None:
            return None
        return LabelledSamples(data.samples, self.class_indices(data.labels, "data.val"), self.scale)

    # -- training ---------------------------------------------------------------------------------

    def generate(self, batch):
        """The classifier's logits."""
        return self.classifier(batch["x"])

    def critic_losses(self, batch, generated):
        return {}

    def generator_losses(self, batch, generated):
        return {"classifier/cross_entropy": F.cross_entropy(generated, batch["y"], label_smoothing=self.label_smoothing)}

    def validation_losses(self, batch):
        logits = self.classifier(batch["x"])
        return {"val/cross_entropy": F.cross_entropy(logits, batch["y"]),
                "val/accuracy": (logits.argmax(1) == batch["y"]).double().mean()}

    # -- inference --------------------------------------------------------------------------------

    def inference_spec(self):
        return {"classes": list(self.classes), "scale": self.scale}

    def load_inference_spec(self, spec):
        self.classes = list(spec["classes"])
        self.scale = float(spec.get("scale", self.scale))

    @torch.no_grad()
    def predict(self, samples: np.ndarray, batch_size: int = 32, device: str | torch.device = "cpu"):
        """(class probabilities (N, K), embeddings (N, D)) of (N, *S) samples, each normalised alone."""
        net = self.classifier.to(device).eval()
        inferer = BatchInferer(batch_size, device)

        def run(chunk):
            x = inferer.tensor(normalise(chunk, "zscore", self.scale, per_sample=True)[:, None])
            return torch.cat([torch.softmax(net(x), 1), net.embed(x)], 1)

        both = inferer(run, samples).astype(np.float64)
        k = len(self.classes) or int(getattr(net, "n_classes"))
        return both[:, :k], both[:, k:]

    def accuracy(self, data: LabelledSet, where: str) -> float:
        """Fraction of ``data``'s samples whose most probable class is their label."""
        probs, _ = self.predict(data.samples)
        return float((probs.argmax(1) == self.class_indices(data.labels, where)).mean())

    def infer(self, source, **options):
        raise EmganError("a classifier gives labels, not maps: use 'emgan cryoetgan classify'", str(source))
