"""Monte-Carlo dropout: dropout kept sampling through .eval(), Welford mean/std, geometry kept."""

import numpy as np
import pytest
import torch
from torch import nn

from emgan_core.errors import EmganError
from emgan_core.inferers import dropout_sampling, mc_dropout
from emgan_core.networks.unet import UNetGenerator
from emgan_core.volume import Volume


def _net():
    torch.manual_seed(0)
    return UNetGenerator(channels=4, depth=3, dropout=0.5, dropout_layers=2, spatial_dims=3).eval()


def test_dropout_samples_inside_the_block_only():
    net, x = _net(), torch.rand(1, 1, 8, 8, 8)
    with torch.no_grad():
        fixed = net(x)
        assert torch.equal(net(x), fixed)  # eval: deterministic
        with dropout_sampling(net):
            net.eval()  # a task's inference may call eval(): dropout keeps sampling
            a, b = net(x), net(x)
            assert not torch.allclose(a, b)
            norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm3d)]
            assert norms and not any(m.training for m in norms)  # batch norm untouched
        assert torch.equal(net(x), fixed)
    assert not any(m.training for m in net.modules())


def test_mc_dropout_mean_and_std_match_direct_samples():
    net, x = _net(), torch.rand(1, 1, 8, 8, 8)

    def run():
        with torch.no_grad():
            return Volume(net(x)[0, 0].numpy(), voxel_size=(1.5, 1.5, 1.5), origin=(3.0, 4.0, 5.0))

    mean, std = mc_dropout(run, [net], samples=6, seed=10)
    direct = []
    with dropout_sampling(net):
        for i in range(6):
            torch.manual_seed(10 + i)
            direct.append(run().data.astype(np.float64))
    assert np.allclose(mean.data, np.mean(direct, 0), atol=1e-6)
    assert np.allclose(std.data, np.std(direct, 0, ddof=1), atol=1e-6)
    assert std.data.max() > 0 and np.allclose(std.origin, (3.0, 4.0, 5.0)) and np.allclose(std.voxel_size, 1.5)


def test_mc_dropout_needs_dropout_and_two_samples():
    plain = UNetGenerator(channels=4, depth=3, dropout=0.0, dropout_layers=0, spatial_dims=3)
    with pytest.raises(EmganError, match="no dropout layers"):
        mc_dropout(lambda: np.zeros(3), [plain], samples=4)
    with pytest.raises(EmganError, match="at least 2"):
        mc_dropout(lambda: np.zeros(3), [_net()], samples=1)
