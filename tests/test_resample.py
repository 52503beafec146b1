"""Trilinear resampling onto another grid (the ChimeraX `vol resample onGrid` step)."""

import numpy as np
import pytest

from emgan_core import Volume
from emgan_core.transforms import resample_to_grid, resample_to_voxel_size


def _linear_volume(shape, voxel, origin):
    v = Volume(np.zeros(shape, np.float32), voxel_size=voxel, origin=origin)
    x, y, z = v.axis_coordinates()
    v.data[:] = 0.5 * x[None, None, :] - 0.25 * y[None, :, None] + 0.1 * z[:, None, None] + 3
    return v


def test_trilinear_is_exact_on_linear_fields():
    src = _linear_volume((20, 22, 24), 1.3, (-5.0, 2.0, 7.0))
    grid = _linear_volume((10, 12, 14), 1.7, (-3.1, 4.2, 9.3))
    out = resample_to_grid(src, grid)
    assert np.allclose(out.data, grid.data, atol=1e-4)
    assert out.same_grid(grid)


def test_integer_shift_equals_slicing_and_outside_is_zero():
    rng = np.random.default_rng(0)
    src = Volume(rng.random((10, 11, 12)).astype(np.float32), voxel_size=2.0, origin=(0, 0, 0))
    grid = Volume(np.zeros((10, 11, 12), np.float32), voxel_size=2.0, origin=(4.0, 2.0, 6.0))
    out = resample_to_grid(src, grid)
    assert np.allclose(out.data[:-3, :-1, :-2], src.data[3:, 1:, 2:])
    assert np.all(out.data[-3:] == 0)


def test_to_one_angstrom(data_dir):
    from emgan_core.io import read_map

    v = read_map(data_dir / "emd2566_3J6B_chain9.mrc")
    one = resample_to_voxel_size(v, 1.0)
    assert np.allclose(one.voxel_size, 1.0) and np.allclose(one.origin, v.origin)
    assert one.shape == tuple(int(np.floor((n - 1) * 1.34 + 1e-6)) + 1 for n in v.shape)
    assert abs(one.data.mean() - v.data.mean()) < 0.05 * v.data.std()


def test_zone_mask_matches_brute_force_distances(data_dir):
    from emgan_core.errors import EmganError
    from emgan_core.io import read_map, read_structure
    from emgan_core.transforms import apply_zone, zone_mask

    vol = read_map(data_dir / "emd2566_3J6B_chain9.mrc")
    atoms = read_structure(data_dir / "3J6B_chain9.pdb")
    mask = zone_mask(vol, atoms, 4.0)
    x, y, z = vol.axis_coordinates()
    pick = np.random.default_rng(0).integers(0, [vol.shape[2], vol.shape[1], vol.shape[0]], size=(300, 3))
    for i, j, k in pick:  # x, y, z voxel indices
        point = np.array([x[i], y[j], z[k]])
        near = np.sqrt(((atoms.xyz - point) ** 2).sum(1)).min() <= 4.0
        assert mask[k, j, i] == near
    assert 0.05 < mask.mean() < 0.9
    zoned = apply_zone(vol, atoms, 4.0)
    assert np.array_equal(zoned.data[mask], vol.data[mask]) and not zoned.data[~mask].any()
    assert zoned.same_grid(vol)
    with pytest.raises(EmganError, match="positive"):
        zone_mask(vol, atoms, 0.0)
