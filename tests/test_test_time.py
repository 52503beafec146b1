"""Test-time mode of pix2pix-family generators (emgan_core.inference.test_time): dropout sampling and
batch statistics without touching the saved model, or plain eval mode."""

import numpy as np
import pytest
import torch
from torch import nn

from emgan_core.errors import EmganError
from emgan_core.inference import test_time as run_in_test_time
from emgan_core.inferers import mc_dropout


def _net(dropout: float = 0.0):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.Dropout(dropout))
    bn = net[1]
    bn.running_mean.fill_(5.0)  # far from the statistics of any test batch
    bn.running_var.fill_(4.0)
    bn.num_batches_tracked.fill_(7)
    return net.eval()


def test_pix2pix_mode_uses_batch_statistics_and_leaves_the_model_unchanged():
    net, x = _net(), 3.0 + 2.0 * torch.randn(4, 1, 8, 8)
    conv = net[0](x).detach()
    with torch.no_grad(), run_in_test_time(net, mode="pix2pix"):
        y = net(x)
    # batch statistics: each channel of the output has mean 0 and (biased) variance 1 over the batch
    assert y.mean((0, 2, 3)).abs().max() < 1e-5
    assert torch.allclose(y.var((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)
    # the running buffers, their counter and every flag are as before
    bn = net[1]
    assert torch.equal(bn.running_mean, torch.full((3,), 5.0)) and torch.equal(bn.running_var, torch.full((3,), 4.0))
    assert int(bn.num_batches_tracked) == 7 and bn.track_running_stats and not any(m.training for m in net.modules())
    with torch.no_grad(), run_in_test_time(net, mode="eval"):
        z = net(x)
    assert torch.allclose(z, (conv - 5.0) / torch.sqrt(torch.tensor(4.0) + bn.eps), atol=1e-5)  # running stats


def test_pix2pix_mode_keeps_dropout_sampling_and_eval_mode_does_not():
    net, x = _net(dropout=0.5), torch.randn(8, 1, 16, 16)
    with torch.no_grad():
        with run_in_test_time(net, mode="pix2pix"):
            torch.manual_seed(1)
            a = net(x)
            torch.manual_seed(2)
            b = net(x)
        with run_in_test_time(net, mode="eval"):
            c, d = net(x), net(x)
    zeros = float((a == 0).float().mean())
    assert zeros == pytest.approx(0.5, abs=0.03)  # half of the activations dropped
    assert float((a != b).float().mean()) > 0.4  # another seed, another mask
    assert torch.equal(c, d) and float((c == 0).float().mean()) == 0.0


def test_mc_dropout_draws_in_pix2pix_mode_have_the_dropout_spread():
    net, x = _net(dropout=0.5), torch.randn(2, 1, 8, 8)

    def run():
        with torch.no_grad(), run_in_test_time(net, mode="pix2pix"):
            return net(x).numpy()

    mean, std = mc_dropout(run, [net], samples=48, seed=0)
    with torch.no_grad():
        v = ((net[0](x) - net[0](x).mean((0, 2, 3), keepdim=True))
             / torch.sqrt(net[0](x).var((0, 2, 3), unbiased=False, keepdim=True) + net[1].eps)).numpy()
    # inverted dropout at p = 0.5: each value is 0 or 2·v (v: batch-normalised), mean v, std |v|
    assert np.abs(mean - v).mean() < 0.25 * np.abs(v).mean()
    assert np.median(std / np.abs(v)) == pytest.approx(1.0, abs=0.15)


def test_unknown_mode_is_refused():
    with pytest.raises(EmganError, match="pix2pix, eval"):
        with run_in_test_time(_net(), mode="train"):
            pass
