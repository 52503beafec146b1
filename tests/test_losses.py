"""Loss terms: values against their formulas."""

import math

import pytest
import torch

import numpy as np

from emgan_core.losses import (BCELoss, HingeLoss, L1Loss, LeastSquaresLoss, MSELoss, ShellCorrelationLoss,
                               SmoothL1Loss, WassersteinLoss)


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


def _brute_force_shell_loss(a: np.ndarray, b: np.ndarray, max_shell: float = 1.0) -> float:
    """1 − mean ring/shell correlation, one shell at a time over the full FFT of each image."""
    values = []
    for x, y in zip(a.reshape(-1, *a.shape[2:]), b.reshape(-1, *b.shape[2:])):
        fx, fy = np.fft.fftn(x), np.fft.fftn(y)
        grids = np.meshgrid(*[np.fft.fftfreq(n) * min(x.shape) for n in x.shape], indexing="ij")
        radius = np.rint(np.sqrt(sum(g ** 2 for g in grids)))
        for shell in range(1, int(round(max_shell * (min(x.shape) // 2))) + 1):
            m = radius == shell
            values.append(np.sum((fx[m] * np.conj(fy[m])).real)
                          / np.sqrt(np.sum(np.abs(fx[m]) ** 2) * np.sum(np.abs(fy[m]) ** 2)))
    return 1.0 - float(np.mean(values))


@pytest.mark.parametrize("shape, max_shell", [((2, 1, 16, 16), 1.0), ((1, 2, 8, 8, 8), 1.0), ((2, 1, 16, 16), 0.5)])
def test_shell_correlation_loss_matches_a_ring_by_ring_computation(shape, max_shell):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(shape, generator=g)
    b = a + 0.8 * torch.randn(shape, generator=g)
    loss = ShellCorrelationLoss(max_shell=max_shell)  # 2D or 3D from the tensors
    assert loss(a, b).item() == pytest.approx(_brute_force_shell_loss(a.numpy(), b.numpy(), max_shell), abs=1e-5)
    assert 0.1 < loss(a, b).item() < 1.0


def test_shell_correlation_loss_is_blind_to_scale_and_offset_and_sees_sign():
    a = torch.randn(3, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    loss = ShellCorrelationLoss()
    assert loss(a, 2.5 * a + 7.0).item() == pytest.approx(0.0, abs=1e-5)
    assert loss(a, -a).item() == pytest.approx(2.0, abs=1e-5)
    b = a.clone().requires_grad_()
    loss(torch.randn(3, 1, 32, 32), b).backward()
    assert torch.isfinite(b.grad).all() and b.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="spatial_dims"):
        ShellCorrelationLoss(spatial_dims=1)
    with pytest.raises(ValueError, match="max_shell"):
        ShellCorrelationLoss(max_shell=0)
    with pytest.raises(ValueError, match="tensors of one shape"):
        ShellCorrelationLoss(spatial_dims=2)(torch.zeros(1, 1, 4, 4, 4), torch.zeros(1, 1, 4, 4, 4))
