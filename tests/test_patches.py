"""Patch split + merge through torchio: identity reproduces the input; streaming batches."""

import numpy as np
import pytest
import torch

from emgan_core import EmganError
from emgan_core.inferers import PatchInferer, merge_patches, split_patches
from emgan_core.io import read_map


@pytest.fixture
def real_map(data_dir):
    return read_map(data_dir / "emd2566_3J6B_chain9.mrc").data  # (47, 52, 35): not divisible by 32


def test_crop_identity_is_exact(real_map):
    out = merge_patches(real_map, lambda x: x, patch_size=32, mode="crop", core=20)
    assert out.shape == (1,) + real_map.shape
    assert np.array_equal(out[0], real_map)


@pytest.mark.parametrize("stride", [4, 8, 12])
def test_average_identity(real_map, stride):
    out = PatchInferer(24, "average", stride=stride)(lambda x: x, real_map)
    assert np.allclose(out[0], real_map, rtol=0, atol=2e-6 * np.abs(real_map).max())


def test_hann_identity(real_map):
    out = PatchInferer(16, "hann", stride=8)(lambda x: x, real_map)
    assert np.allclose(out[0], real_map, atol=2e-6 * np.abs(real_map).max())


def test_crop_keeps_only_the_core():
    """A function that marks patch borders: the merged output must never contain them."""
    vol = np.zeros((40, 45, 50), np.float32)

    def mark_border(x):
        y = torch.ones_like(x)
        y[..., :6, :, :] = y[..., -6:, :, :] = -1
        y[..., :, :6, :] = y[..., :, -6:, :] = -1
        y[..., :6] = y[..., -6:] = -1
        return y

    out = merge_patches(vol, mark_border, patch_size=32, mode="crop", core=20)
    assert np.all(out == 1)


def test_images_2d_and_channels():
    img = np.random.default_rng(1).random((2, 70, 53)).astype(np.float32)  # 2 channels
    out = PatchInferer(16, "crop", core=10, spatial_dims=2)(lambda x: x[:, :1] * 2, img)
    assert out.shape == (1, 70, 53) and np.allclose(out[0], 2 * img[0])
    out = PatchInferer(16, "average", stride=6, spatial_dims=2)(lambda x: x, img)
    assert np.allclose(out, img, atol=1e-6)


def test_streams_bounded_batches(real_map):
    sizes = []

    def fn(x):
        sizes.append(x.shape[0])
        return x

    PatchInferer(16, "crop", core=10, batch_size=5)(fn, real_map)
    patches, locations = split_patches(real_map, 16, "crop", core=10)
    assert max(sizes) == 5 and sum(sizes) == patches.shape[0] == locations.shape[0]


def test_small_input_in_crop_mode():
    vol = np.random.default_rng(2).random((10, 12, 9)).astype(np.float32)
    out = merge_patches(vol, lambda x: x, patch_size=32, mode="crop", core=20)
    assert np.array_equal(out[0], vol)


def test_average_any_stride_matches_a_direct_loop(real_map):
    """SuperEM's grid: 25³ cubes at stride 4 (odd overlap), far end zero-padded, equal weights."""
    vol = np.asarray(real_map, np.float32)[:33, :30, :29]

    def fn(x):  # position-dependent, so a misplaced patch changes the result
        ramp = torch.arange(x.shape[-1], dtype=x.dtype)
        return x * 2 + ramp

    out = PatchInferer(25, "average", stride=4, batch_size=7)(fn, vol)[0]
    padded = np.zeros((33, 33, 29), np.float32)  # starts 0, 4, 8 cover 33 and 30; 0, 4 cover 29
    padded[:33, :30, :29] = vol
    total, weight = np.zeros_like(padded), np.zeros_like(padded)
    for z in (0, 4, 8):
        for y in (0, 4, 8):
            for x in (0, 4):
                cube = padded[z:z + 25, y:y + 25, x:x + 25]
                total[z:z + 25, y:y + 25, x:x + 25] += cube * 2 + np.arange(25)
                weight[z:z + 25, y:y + 25, x:x + 25] += 1
    np.testing.assert_allclose(out, (total / weight)[:33, :30, :29], rtol=1e-5, atol=1e-5)


def test_skip_empty_patches_are_not_computed():
    vol = np.zeros((40, 40, 40), np.float32)
    vol[5:12, 5:12, 5:12] = 1.0
    seen = []

    def fn(x):
        seen.append(len(x))
        return x + 1

    out = PatchInferer(16, "average", stride=8, skip_empty=True)(fn, vol)[0]
    all_patches = PatchInferer(16, "average", stride=8)
    total = sum(len(p) for p, _ in all_patches.split(vol))
    assert 0 < sum(seen) < total
    assert out[8, 8, 8] == pytest.approx(2.0) and out[39, 39, 39] == 0.0


def test_skip_empty_in_crop_mode_computes_only_patches_with_density():
    """struc2mapGAN's 32³/20³ layout on a simulated map that is 0 far from the atoms: patches whose
    input is all zero are not computed and their cores are 0; the others are exactly as without."""
    vol = np.zeros((60, 60, 60), np.float32)
    vol[10:20, 10:20, 10:20] = np.random.default_rng(0).random((10, 10, 10)) + 0.5
    calls = []

    def fn(x):
        calls.append(len(x))
        return torch.cat([2 * x, x - 1], 1)  # two output channels, non-zero on empty input

    skipping = PatchInferer(32, "crop", core=20, batch_size=4, skip_empty=True)
    out = skipping(fn, vol)
    computed = sum(calls)
    calls.clear()
    full = PatchInferer(32, "crop", core=20, batch_size=4)(fn, vol)
    total = sum(calls)
    assert total == 27 and computed == 8  # a 3×3×3 grid of cores; the box touches 2×2×2 patches
    assert out.shape == full.shape == (2, 60, 60, 60)
    assert np.array_equal(out[:, :40, :40, :40], full[:, :40, :40, :40])  # cores of the computed patches
    assert np.all(out[:, 40:] == 0) and np.all(full[1, 40:] == -1)
    empty = PatchInferer(32, "crop", core=20, skip_empty=True)(fn, np.zeros((30, 30, 30), np.float32))
    assert empty.shape == (1, 30, 30, 30) and not empty.any()


def test_parameter_errors():
    with pytest.raises(EmganError, match="even"):
        PatchInferer(25, "crop", core=20)
    with pytest.raises(EmganError, match="exceed"):
        PatchInferer(16, "crop", core=20)
    with pytest.raises(EmganError, match="unknown merge mode"):
        PatchInferer(16, "median")
