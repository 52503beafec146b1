"""MRC/CCP4 reading and writing: geometry kept exactly, axis orders, compression, gemmi agreement."""

import gzip
import shutil

import gemmi
import mrcfile
import numpy as np
import pytest

from emgan_core import Volume
from emgan_core.io import read_map, write_map
from emgan_core.io.maps import resolve_origin

MAPS = ["emd2566_3J6B_chain9.mrc", "emringerweb_test_map.ccp4", "EMD-3001.map"]


@pytest.mark.parametrize("name", MAPS)
def test_round_trip_keeps_geometry_bit_for_bit(data_dir, tmp_path, name):
    first = read_map(data_dir / name)
    write_map(tmp_path / "a.mrc", first)
    second = read_map(tmp_path / "a.mrc")
    assert np.array_equal(first.voxel_size, second.voxel_size)
    assert np.array_equal(first.origin, second.origin)
    assert np.array_equal(first.data, second.data)
    if np.allclose(np.array(first.start) * first.voxel_size, first.origin, atol=1e-4):
        assert first.start == second.start  # consistent headers keep their N*START
    else:  # ORIGIN-placed map with N*START 0: N*START is written so that gemmi agrees
        assert np.allclose(np.array(second.start) * second.voxel_size, second.origin, atol=1e-3)
    # and again: a second trip changes nothing
    write_map(tmp_path / "b.mrc", second)
    assert (tmp_path / "a.mrc").read_bytes()[:1024] == (tmp_path / "b.mrc").read_bytes()[:1024]


def test_known_geometry_of_bundled_maps(data_dir):
    v = read_map(data_dir / "emd2566_3J6B_chain9.mrc")
    assert v.shape == (47, 52, 35)  # (z, y, x)
    assert np.allclose(v.voxel_size, 1.34, atol=1e-6)
    v = read_map(data_dir / "EMD-3001.map")  # MAPC,MAPR,MAPS = 3,1,2, placed by N*START
    assert v.shape == (73, 25, 43)
    assert np.allclose(v.voxel_size, [0.44825, 0.3925, 0.45875], atol=1e-5)
    assert v.start == (-21, -12, 0)
    assert np.allclose(v.origin, np.array(v.start) * v.voxel_size, atol=1e-5)


def _write_with_axis_order(path, volume: Volume, order):
    """Write ``volume`` with MAPC,MAPR,MAPS = ``order`` (axis numbers 1=x, 2=y, 3=z) by hand."""
    zyx = volume.data
    # stored array axes are (sections, rows, columns) = (order[2], order[1], order[0])
    axis_of = {3: 0, 2: 1, 1: 2}  # position of x/y/z in our (z, y, x) array
    stored = np.transpose(zyx, [axis_of[order[2]], axis_of[order[1]], axis_of[order[0]]])
    with mrcfile.new(str(path), overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(stored))
        h = mrc.header
        h.mapc, h.mapr, h.maps = order
        n_xyz = np.array(zyx.shape[::-1])
        h.mx, h.my, h.mz = (int(v) for v in n_xyz)
        h.cella = tuple(float(c) for c in volume.voxel_size * n_xyz)
        h.origin = tuple(float(o) for o in volume.origin)


@pytest.mark.parametrize("order", [(3, 1, 2), (3, 2, 1), (2, 3, 1)])
def test_non_standard_axis_order_reads_like_standard_twin(data_dir, tmp_path, order):
    standard = read_map(data_dir / "emd2566_3J6B_chain9.mrc")
    _write_with_axis_order(tmp_path / "twin.mrc", standard, order)
    twin = read_map(tmp_path / "twin.mrc")
    assert twin.shape == standard.shape
    assert np.array_equal(twin.data, standard.data)
    assert np.allclose(twin.voxel_size, standard.voxel_size, atol=1e-5)
    assert np.allclose(twin.origin, standard.origin, atol=1e-4)


def test_real_312_map_matches_its_rewritten_standard_twin(data_dir, tmp_path):
    odd = read_map(data_dir / "EMD-3001.map")
    write_map(tmp_path / "std.mrc", odd)
    with mrcfile.open(tmp_path / "std.mrc") as mrc:
        assert (mrc.header.mapc, mrc.header.mapr, mrc.header.maps) == (1, 2, 3)
    assert np.array_equal(read_map(tmp_path / "std.mrc").data, odd.data)


@pytest.mark.parametrize("name", MAPS)
def test_gemmi_reads_what_emgan_writes(data_dir, tmp_path, name):
    v = read_map(data_dir / name)
    write_map(tmp_path / "w.mrc", v)
    m = gemmi.read_ccp4_map(str(tmp_path / "w.mrc"))
    # gemmi's grid is indexed (x, y, z); ours is (z, y, x)
    assert np.array_equal(np.array(m.grid, copy=False).transpose(2, 1, 0), v.data)
    # where gemmi places the first voxel: its extent (fractional, from N*START and MX..) x cell
    cell = m.grid.unit_cell
    frac = m.get_extent().minimum
    gemmi_origin = np.array([frac.x * cell.a, frac.y * cell.b, frac.z * cell.c])
    assert np.allclose(gemmi_origin, v.origin, atol=1e-3)


def test_origin_rules_follow_chimerax(data_dir, tmp_path):
    v = read_map(data_dir / "emd2566_3J6B_chain9.mrc")
    with mrcfile.open(data_dir / "emd2566_3J6B_chain9.mrc", permissive=True) as mrc:
        assert np.any(np.array(mrc.header.origin.tolist()) != 0)  # placed by ORIGIN
        assert np.allclose(resolve_origin(mrc.header, v.voxel_size),
                           np.array(mrc.header.origin.tolist()), atol=0)
    # ORIGIN zero: N*START x voxel size
    shifted = Volume(v.data, voxel_size=2.0, origin=(-20.0, 10.0, 4.0))
    write_map(tmp_path / "s.mrc", shifted)
    with mrcfile.open(tmp_path / "s.mrc") as mrc:
        assert (int(mrc.header.nxstart), int(mrc.header.nystart), int(mrc.header.nzstart)) == (-10, 5, 2)
        mrc_header = mrc.header.copy()
    mrc_header.origin = (0.0, 0.0, 0.0)
    assert np.allclose(resolve_origin(mrc_header, np.array([2.0, 2.0, 2.0])), [-20, 10, 4])


def test_gzip_compressed_map(data_dir, tmp_path):
    src = data_dir / "emringerweb_test_map.ccp4"
    with open(src, "rb") as f, gzip.open(tmp_path / "m.ccp4.gz", "wb") as g:
        shutil.copyfileobj(f, g)
    assert np.array_equal(read_map(tmp_path / "m.ccp4.gz").data, read_map(src).data)


def test_no_temporary_files_left(data_dir, tmp_path):
    write_map(tmp_path / "x.mrc", read_map(data_dir / "emringerweb_test_map.ccp4"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mrc"]
