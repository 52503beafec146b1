"""``task/cycle``: unpaired translation between two domains with two generators and two critics
(CycleGAN, Zhu et al. 2017; CryoETGAN's Wasserstein version, Wu et al. 2022).

G_ab maps domain A to B, G_ba maps B to A; critic_a judges A samples, critic_b B samples. The
critics minimise the recipe's adversarial loss (``wasserstein`` with ``train.weight_clip`` and
RMSprop as in the paper; ``train.gradient_penalty`` optional), the generators its generator side in
both directions plus ``cycle_weight`` · (|G_ba(G_ab(a)) − a|₁ + |G_ab(G_ba(b)) − b|₁) and, if asked,
``identity_weight`` · (|G_ab(b) − b|₁ + |G_ba(a) − a|₁). ``noise_sigma`` adds zero-mean Gaussian
noise to the domain-A maps (CryoETGAN's density maps, Table 3 of the paper: σ = 0.2 best) wherever
they enter the game: training draws, validation and translation from A to B.

Data (recipe ``data``): ``train: {a: [ITEM…], b: [ITEM…]}`` and optionally ``val`` alike, an item
being a set table (CSV/STAR, ``{set: TABLE, column: NAME}``), an .mrcs stack (2D) or one map.
Labels are not used: the domains are unpaired. Samples are normalised one by one to units of
``scale`` standard deviations about their mean; generated samples are returned in those units × scale
(i.e. in standard deviations).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from emgan_core.errors import EmganError
from emgan_core.interfaces import Task
from emgan_core.volume import ImageStack, Volume

from .samples import UnpairedSamples, add_noise, normalise
from .sets import LabelledSet, read_samples


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

    roles = {"generator_ab": "generator", "generator_ba": "generator", "critic_a": "critic", "critic_b": "critic"}
    optional_roles = frozenset()

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
        self._stash = None
        self.eval = {}
        self.voxel_size = 1.0

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
        a = _gather(section["a"], f"data.{split}.a", self.spatial_dims)
        b = _gather(section["b"], f"data.{split}.b", self.spatial_dims)
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

    def _fakes(self, batch, grad: bool):
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            return self.networks["generator_ab"](batch["a"]), self.networks["generator_ba"](batch["b"])

    def critic_losses(self, batch):
        keep = batch is getattr(self, "generator_batch", None)
        fake_b, fake_a = self._fakes(batch, keep)
        if keep:
            self._stash = (batch, fake_b, fake_a)
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

    def generator_losses(self, batch):
        if self._stash is not None and self._stash[0] is batch:
            _, fake_b, fake_a = self._stash
        else:
            fake_b, fake_a = self._fakes(batch, True)
        self._stash = None
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
        fake_b, fake_a = self._fakes(batch, False)
        g_ab, g_ba = self.networks["generator_ab"], self.networks["generator_ba"]
        return {"val/cycle_a": F.l1_loss(g_ba(fake_b), batch["a"]), "val/cycle_b": F.l1_loss(g_ab(fake_a), batch["b"]),
                "val/output_std_b": fake_b.std(), "val/output_std_a": fake_a.std()}

    def summaries(self, batch):
        one = {k: v[:1] for k, v in batch.items()}
        fake_b, fake_a = self._fakes(one, False)
        pick = (lambda t: t[0, 0, t.shape[2] // 2]) if self.spatial_dims == 3 else (lambda t: t[0, 0])
        return {name: pick(t).float().cpu().numpy() for name, t in
                (("a", one["a"]), ("a_to_b", fake_b), ("b", one["b"]), ("b_to_a", fake_a))}

    # -- inference --------------------------------------------------------------------------------

    def inference_spec(self):
        return {"scale": self.scale, "spatial_dims": self.spatial_dims, "direction": self.direction,
                "noise_sigma": self.noise_sigma,
                "voxel_size": self.voxel_size, "batch_size": int((self.eval or {}).get("batch_size", 8))}

    def load_inference_spec(self, spec):
        self.eval = dict(spec)
        self.scale = float(spec.get("scale", self.scale))
        self.spatial_dims = int(spec.get("spatial_dims", self.spatial_dims))
        self.direction = spec.get("direction", self.direction)
        self.voxel_size = float(spec.get("voxel_size", self.voxel_size))
        self.noise_sigma = float(spec.get("noise_sigma", 0.0))

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
        batch_size = batch_size or int((self.eval or {}).get("batch_size", 8))
        out = np.empty(samples.shape, np.float32)
        for s in range(0, len(samples), batch_size):
            x = [normalise(v, self.scale) for v in samples[s:s + batch_size]]
            if direction == "ab" and self.noise_sigma:
                x = [add_noise(v, self.noise_sigma, self.scale, np.random.default_rng([noise_seed, s + j]))
                     for j, v in enumerate(x)]
            x = torch.from_numpy(np.stack(x)[:, None])
            out[s:s + batch_size] = generator(x.to(device)).float().cpu().numpy()[:, 0] * self.scale
        return out

    def infer(self, source, batch_size: int | None = None, device: str | torch.device = "cpu",
              direction: str | None = None):
        """Translate one map (or every image of an .mrcs stack) in ``direction`` (default: the recipe's)."""
        if isinstance(source, (Volume, ImageStack)):
            value = source
        else:
            from emgan_core.io import read_any

            value = read_any(source)
        if isinstance(value, ImageStack):
            return ImageStack(self.translate(value.data, direction, batch_size, device), value.pixel_size)
        return value.with_data(self.translate(value.data[None], direction, batch_size, device)[0])
