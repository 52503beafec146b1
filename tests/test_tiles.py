"""Tiled inference computes each voxel once and, with a halo at least the receptive field, gives
the network's whole-volume output; too small a halo does not (the control)."""

import numpy as np
import pytest
import torch
from torch import nn

from emgan_core.api import EmganError, EvalSettings
from emgan_core.inferers.tiles import TiledInferer, receptive_field, size_multiple, tile_for_memory, tiled_inferer
from emgan_core.networks.unet import UNetGenerator


def _unet():
    torch.manual_seed(0)
    net = UNetGenerator(in_channels=1, channels=4, depth=2, norm="batch", spatial_dims=3, output="linear").eval()
    for m in net.modules():  # non-trivial running statistics, as after training
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net


def _volume(shape=(36, 28, 44)):
    return np.random.default_rng(0).random((1, *shape), dtype=np.float32)


def _whole(net, x, multiple):
    padded = [-(-n // multiple) * multiple for n in x.shape[1:]]
    source = np.zeros((x.shape[0], *padded), np.float32)
    source[:, :x.shape[1], :x.shape[2], :x.shape[3]] = x
    with torch.no_grad():
        out = net(torch.from_numpy(source)[None])[0].numpy()
    return out[:, :x.shape[1], :x.shape[2], :x.shape[3]]


def test_the_receptive_field_of_known_networks():
    three = nn.Sequential(*[nn.Conv3d(1, 1, 3, padding=1) for _ in range(3)])
    assert receptive_field(three, 1, probe=32) == 3
    dilated = nn.Sequential(nn.Conv3d(1, 1, 3, padding=2, dilation=2), nn.Conv3d(1, 1, 5, padding=2))
    assert receptive_field(dilated, 1, probe=32) == 4
    wide = nn.Conv3d(1, 1, 33, padding=16)
    assert receptive_field(wide, 1, probe=16) == 16  # the probe doubles until it sees the whole field
    assert receptive_field(wide, 1, probe=16, largest=16) is None  # larger than the largest probe
    normed = nn.Sequential(nn.Conv3d(1, 1, 3, padding=1), nn.InstanceNorm3d(1))
    assert receptive_field(normed, 1, probe=16, largest=64) is None  # every voxel depends on every other


def test_tiles_with_a_halo_of_the_receptive_field_equal_the_whole_volume_pass():
    net, x = _unet(), _volume()
    multiple = size_multiple(net)
    rf = receptive_field(net, 1, probe=64, multiple=multiple)
    assert multiple == 4 and rf is not None and 4 < rf < 32
    whole = _whole(net, x, multiple)
    tiles = TiledInferer(8, rf, multiple)
    assert len(tiles.tiles(x.shape[1:])) == 5 * 4 * 6
    out = tiles(net, x)
    assert out.shape == whole.shape
    np.testing.assert_allclose(out, whole, atol=1e-5 * np.abs(whole).max())
    short = TiledInferer(8, 0, multiple)(net, x)  # no context: seams where tiles meet
    assert np.abs(short - whole).max() > 100 * 1e-5 * np.abs(whole).max()


def test_each_voxel_is_computed_once_when_one_tile_holds_the_volume():
    tiles = TiledInferer(48, 0, 4)
    assert len(tiles.tiles((36, 28, 44))) == 1 and tiles.computed_voxels((36, 28, 44)) == 36 * 28 * 44


def test_tiles_are_sized_to_memory():
    assert tile_for_memory(1000.0, 1000.0 * 64**3, 16, 8, (40, 40, 40)) == (40, 0)  # the whole volume fits
    core, halo = tile_for_memory(1000.0, 1000.0 * 64**3, 16, 8, (200, 200, 200))
    assert (core, halo) == (32, 16) and (core + 2 * halo) ** 3 * 1000.0 <= 1000.0 * 64**3
    with pytest.raises(EmganError, match="lower eval.halo"):
        tile_for_memory(1000.0, 1000.0 * 64**3, 40, 8, (200, 200, 200))
    with pytest.raises(EmganError, match="set a halo"):
        tile_for_memory(1000.0, 1000.0 * 16**3, None, 8, (200, 200, 200))


def test_settings_choose_the_tiles():
    net, x = _unet(), _volume((20, 20, 20))
    whole = _whole(net, x, 4)
    auto = tiled_inferer(EvalSettings(blend="tiles"), net, net, 1, x.shape[1:])
    assert auto.tiles(x.shape[1:]) == [((slice(0, 20),) * 3, (slice(0, 20),) * 3, (slice(0, 20),) * 3)]
    np.testing.assert_allclose(auto(net, x), whole, atol=1e-5 * np.abs(whole).max())
    fixed = tiled_inferer(EvalSettings(blend="tiles", tile=8, halo=6), net, net, 1, x.shape[1:])
    assert (fixed.core, fixed.halo) == ((8, 8, 8), 8)  # rounded up to the size multiple
    with pytest.raises(EmganError, match="eval.blend"):
        from emgan_core.api import PatchInferer

        PatchInferer.from_settings(EvalSettings(blend="tiles"))


def test_a_network_with_instance_norm_is_warned_about():
    net = nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.InstanceNorm3d(2), nn.Conv3d(2, 1, 1))
    with pytest.warns(RuntimeWarning, match="instance norm"):
        tiled_inferer(EvalSettings(blend="tiles", halo=2), net, net, 1, (8, 8, 8))


def test_the_receptive_field_is_measured_once_per_network_and_not_for_instance_norm(monkeypatch):
    import emgan_core.inferers.tiles as tiles

    calls = []
    measure = tiles.receptive_field
    monkeypatch.setattr(tiles, "receptive_field", lambda *a, **k: calls.append(1) or measure(*a, **k))
    net = _unet()
    for _ in range(3):
        tiles.tiled_inferer(EvalSettings(blend="tiles", tile=8), net, net, 1, (16, 16, 16))
    assert len(calls) == 1
    normed = nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.InstanceNorm3d(2), nn.Conv3d(2, 1, 1))
    with pytest.warns(RuntimeWarning, match="instance norm"):
        whole = tiles.tiled_inferer(EvalSettings(blend="tiles"), normed, normed, 1, (12, 12, 12))
    assert len(calls) == 1 and len(whole.tiles((12, 12, 12))) == 1  # the whole volume, nothing measured
