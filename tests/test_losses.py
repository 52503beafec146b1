"""Loss terms: values against their formulas."""

import math

import pytest
import torch

from emgan_core.losses import (BCELoss, HingeLoss, L1Loss, LeastSquaresLoss, MSELoss, SmoothL1Loss,
                               WassersteinLoss)


def test_bce_values():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 0.5])
    sp = lambda x: math.log1p(math.exp(x))  # noqa: E731 softplus
    want = 0.5 * ((sp(-2) + sp(0)) / 2 + (sp(-1) + sp(0.5)) / 2)
    assert BCELoss().critic_loss(real, fake).item() == pytest.approx(want, rel=1e-6)
    assert BCELoss().generator_loss(fake).item() == pytest.approx((sp(1) + sp(-0.5)) / 2, rel=1e-6)


def test_other_adversarial_losses():
    real, fake = torch.tensor([1.5, 0.5]), torch.tensor([-0.5, 0.25])
    assert WassersteinLoss().critic_loss(real, fake).item() == pytest.approx(-0.125 - 1.0)
    assert WassersteinLoss().generator_loss(fake).item() == pytest.approx(0.125)
    assert LeastSquaresLoss().critic_loss(real, fake).item() == pytest.approx(
        0.5 * ((0.25 + 0.25) / 2 + (0.25 + 0.0625) / 2))
    assert HingeLoss().critic_loss(real, fake).item() == pytest.approx((0 + 0.5) / 2 + (0.5 + 1.25) / 2)
    with pytest.raises(TypeError):
        BCELoss()(real, fake)


def test_pixel_losses():
    a, b = torch.tensor([0.0, 1.0, 3.0]), torch.tensor([0.5, 1.0, 1.0])
    assert L1Loss()(a, b).item() == pytest.approx(2.5 / 3)
    assert MSELoss()(a, b).item() == pytest.approx(4.25 / 3)
    assert SmoothL1Loss(beta=1.0)(a, b).item() == pytest.approx((0.125 + 0 + 1.5) / 3)
