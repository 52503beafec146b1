"""Adversarial losses on critic logits (unbounded scores; no sigmoid in the critic).

Each defines the critic side (real vs fake) and the generator side (fake only). Patch critics
produce a map of logits; every loss averages over all of them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..interfaces import Loss


class _Adversarial(Loss):
    adversarial = True

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise TypeError(f"{type(self).__name__} takes logits: use critic_loss / generator_loss")


class BCELoss(_Adversarial):
    """Original GAN loss (pix2pix, struc2mapGAN): binary cross-entropy on logits, non-saturating
    generator side. ``label_smoothing`` lowers the real target to 1 − s for the critic."""

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = float(label_smoothing)

    def critic_loss(self, real_logits, fake_logits):
        real = F.binary_cross_entropy_with_logits(
            real_logits, torch.full_like(real_logits, 1.0 - self.label_smoothing))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return 0.5 * (real + fake)

    def generator_loss(self, fake_logits):
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class LeastSquaresLoss(_Adversarial):
    """LSGAN (Mao et al. 2017): squared distance of logits to 1 (real) and 0 (fake)."""

    def critic_loss(self, real_logits, fake_logits):
        return 0.5 * (((real_logits - 1) ** 2).mean() + (fake_logits ** 2).mean())

    def generator_loss(self, fake_logits):
        return ((fake_logits - 1) ** 2).mean()


class WassersteinLoss(_Adversarial):
    """WGAN (Arjovsky et al. 2017): the critic maximises E[D(real)] − E[D(fake)]; the generator
    minimises −E[D(fake)]. Needs a Lipschitz critic: weight clipping or gradient penalty
    (the trainer applies either, as the recipe says)."""

    def critic_loss(self, real_logits, fake_logits):
        return fake_logits.mean() - real_logits.mean()

    def generator_loss(self, fake_logits):
        return -fake_logits.mean()


class HingeLoss(_Adversarial):
    """Hinge GAN loss (SAGAN/BigGAN): relu(1 − D(real)) + relu(1 + D(fake)); generator −D(fake)."""

    def critic_loss(self, real_logits, fake_logits):
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def generator_loss(self, fake_logits):
        return -fake_logits.mean()


class ProbabilityLoss(_Adversarial):
    """SRGAN / EM-GAN: losses on the critic's probabilities p = sigmoid(logit), linear in p.
    Critic 1 − p(real) + p(fake); generator 1 − p(fake) (the paper's −D(G(LR)) plus a constant)."""

    def critic_loss(self, real_logits, fake_logits):
        return 1.0 - torch.sigmoid(real_logits).mean() + torch.sigmoid(fake_logits).mean()

    def generator_loss(self, fake_logits):
        return 1.0 - torch.sigmoid(fake_logits).mean()
