"""Bad input: one line naming the file and the problem, exit status 2, no output left behind."""

import os

import numpy as np
import pytest

from emgan_core import Volume
from emgan_core.io import read_map, write_map


def _one_error_line(proc, *needles):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def good_map(data_dir):
    return data_dir / "emringerweb_test_map.ccp4"


def test_truncated_mrc(emgan, good_map, data_dir, tmp_path):
    bad = tmp_path / "truncated.mrc"
    bad.write_bytes(good_map.read_bytes()[:3000])
    _one_error_line(emgan("eval", bad, good_map), str(bad), "truncated")
    out = tmp_path / "out.mrc"  # a command that writes: the grid it was given is truncated
    proc = emgan("simulate", "gaussian", data_dir / "emringerweb_test_model.pdb", "-o", out, "--on-grid", bad)
    _one_error_line(proc, str(bad), "truncated")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["truncated.mrc"]


def test_header_disagrees_with_size(emgan, good_map, tmp_path):
    bad = tmp_path / "long.mrc"
    bad.write_bytes(good_map.read_bytes() + b"\0" * 4096)
    _one_error_line(emgan("eval", bad, good_map), str(bad), "file size")


def test_not_an_mrc_file(emgan, good_map, tmp_path):
    bad = tmp_path / "text.mrc"
    bad.write_text("hello\n")
    _one_error_line(emgan("eval", bad, good_map), str(bad))


def test_map_with_nan(emgan, good_map, tmp_path):
    data = np.ones((8, 9, 10), np.float32)
    data[2, 3, 4] = np.nan
    bad = tmp_path / "nan.mrc"
    import mrcfile

    with mrcfile.new(str(bad)) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = 1.0
    _one_error_line(emgan("eval", bad, bad), str(bad), "NaN")


def test_missing_file(emgan, good_map, tmp_path):
    _one_error_line(emgan("eval", tmp_path / "nope.mrc", good_map), "nope.mrc", "not found")


@pytest.mark.parametrize("content,needle", [
    ("", "no"),
    ("HETATM    1  O   HOH A   1       1.000   2.000   3.000  1.00 10.00           O\nEND\n", "no atoms left"),
    ("ATOM      1  H1  GLY A   1       1.000   2.000   3.000  1.00 10.00           H\n"
     "ATOM      2  H2  GLY A   1       2.000   2.000   3.000  1.00 10.00           H\nEND\n", "no atoms left"),
])
def test_empty_or_hydrogen_only_structure(emgan, tmp_path, content, needle):
    pdb = tmp_path / "bad.pdb"
    pdb.write_text(content)
    out = tmp_path / "sim.mrc"
    _one_error_line(emgan("simulate", "gaussian", pdb, "-o", out), str(pdb), needle)
    assert not out.exists()


def test_unwritable_output(emgan, data_dir, tmp_path):
    out = tmp_path / "missing-folder" / "sim.mrc"
    _one_error_line(emgan("simulate", "gaussian", data_dir / "emringerweb_test_model.pdb", "-o", out),
                    str(out), "does not exist")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    _one_error_line(emgan("simulate", "gaussian", data_dir / "emringerweb_test_model.pdb",
                          "-o", blocker / "sim.mrc"), "is a file, not a folder")
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        _one_error_line(emgan("simulate", "gaussian", data_dir / "emringerweb_test_model.pdb",
                              "-o", ro / "sim.mrc"), "permission")
    finally:
        os.chmod(ro, 0o700)


def test_write_error_midway_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    import mrcfile

    from emgan_core import EmganError

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mrcfile.mrcfile.MrcFile, "update_header_stats", disk_full)
    with pytest.raises(EmganError, match="No space left"):
        write_map(tmp_path / "x.mrc", Volume(np.ones((4, 4, 4), np.float32)))
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(Exception):
        write_map(tmp_path / "nan.mrc", Volume(np.full((4, 4, 4), np.nan, np.float32)))
    assert list(tmp_path.iterdir()) == []


def test_bad_simulator_parameter(emgan, data_dir, tmp_path):
    out = tmp_path / "sim.mrc"
    line = _one_error_line(emgan("simulate", "gaussian", data_dir / "emringerweb_test_model.pdb",
                                 "-o", out, "resolution=abc"), "resolution", "expected a number")
    assert "abc" in line
    assert not out.exists()
    _one_error_line(emgan("simulate", "gaussian", data_dir / "emringerweb_test_model.pdb", "-o", out,
                          "resolution=-2"), "resolution", "must lie between 0.1 and 1000 Å, got -2")
    assert not out.exists()


# -- inputs checked where their meaning is ----------------------------------------------------------

def test_non_finite_coordinates_are_refused(emgan, tmp_path):
    pdb = tmp_path / "nan.pdb"
    pdb.write_text("ATOM      1  CA  ALA A   1         nan   2.000   3.000  1.00 10.00           C\nEND\n")
    out = tmp_path / "sim.mrc"
    _one_error_line(emgan("simulate", "gaussian", pdb, "-o", out), str(pdb),
                    "atom CA of ALA 1 in chain A has a non-finite coordinate")
    assert not out.exists()


def test_a_grid_from_coordinates_is_bounded(emgan, tmp_path):
    pdb = tmp_path / "far.pdb"
    pdb.write_text("".join(f"ATOM  {i + 1:5d}  CA  ALA A{i + 1:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00 10.00           C\n"
                           for i, (x, y, z) in enumerate([(0, 0, 0), (5000, 0, 0), (0, 5000, 0), (0, 0, 5000)])))
    out = tmp_path / "sim.mrc"
    line = _one_error_line(emgan("simulate", "gaussian", pdb, "-o", out), str(pdb), "the atoms span 5000 × 5000 × 5000 Å",
                           "5013 × 5013 × 5013 voxels (469.3 GiB)", "max_grid_voxels")
    assert "1,073,741,824" in line and not out.exists()
    small = tmp_path / "small.pdb"
    small.write_text("ATOM      1  CA  ALA A   1       0.000   0.000   0.000  1.00 10.00           C\n"
                     "ATOM      2  CA  ALA A   2      30.000   0.000   0.000  1.00 10.00           C\n")
    _one_error_line(emgan("simulate", "gaussian", small, "-o", out, "max_grid_voxels=1000"), "over max_grid_voxels = 1,000")
    emgan("simulate", "gaussian", small, "-o", out, check_rc=0)  # the default limit is far away


def test_a_grid_that_no_atom_reaches_is_refused(emgan, data_dir, tmp_path):
    pdb = tmp_path / "elsewhere.pdb"
    pdb.write_text("ATOM      1  CA  ALA A   1     500.000 500.000 500.000  1.00 10.00           C\n")
    out = tmp_path / "sim.mrc"
    _one_error_line(emgan("simulate", "gaussian", pdb, "-o", out, "--on-grid", data_dir / "emringerweb_test_map.ccp4"),
                    str(pdb), "none of the 1 atoms lies on the grid", "is this the model of that map?")
    assert not out.exists()


@pytest.fixture
def star_copy(shared_dir, tmp_path):
    folder = tmp_path / "particles"
    folder.mkdir()
    for name in ("relion31.star", "relion31.mrcs"):
        (folder / name).write_bytes((shared_dir / "particles" / "relion31" / name).read_bytes())
    return folder / "relion31.star"


def test_star_rows_must_name_images_the_stack_holds(star_copy):
    from emgan_core import EmganError
    from emgan_core.io import read_particle_star

    assert len(read_particle_star(star_copy)) == 5
    bad = star_copy.with_name("past.star")
    bad.write_text(star_copy.read_text().replace("000005@relion31.mrcs", "000009@relion31.mrcs"))
    with pytest.raises(EmganError) as err:
        read_particle_star(bad)
    assert err.value.line() == (f"{bad}: particle 5: rlnImageName '000009@relion31.mrcs' asks for image 9, "
                                "but relion31.mrcs holds 5")


def test_non_numeric_star_fields_name_their_column_and_row(star_copy):
    from emgan_core import EmganError
    from emgan_core.io import read_particle_star

    lines = star_copy.read_text().splitlines()
    rows = [i for i, ln in enumerate(lines) if "@relion31.mrcs" in ln]
    cells = lines[rows[2]].split()
    cells[12] = "abc"  # rlnAngleRot (#13) of the third particle
    lines[rows[2]] = " ".join(cells)
    bad = star_copy.with_name("text.star")
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(EmganError) as err:
        read_particle_star(bad)
    assert err.value.line() == f"{bad}: rlnAngleRot, particle 3: 'abc' is not a number"


def test_paired_inference_resamples_a_map_at_another_voxel_size(example_plugin, emgan, data_dir, tmp_path):
    """A model trained at 1.34 Å sees a map relabelled 1.0 Å (or anisotropic) at 1.34 Å, with a note,
    and the result comes back on the input's grid."""
    import yaml

    m = data_dir / "emd2566_3J6B_chain9.mrc"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "task": {"name": "paired"}, "generator": {"name": "toy-conv", "params": {"channels": 4, "depth": 1}},
        "losses": [{"name": "l1"}], "data": {"train": [{"input": str(m), "target": str(m)}]},
        "train": {"steps": 2, "batch_size": 2, "patch_size": 8, "checkpoint_every": 2},
        "eval": {"window": 16, "window_core": 8, "blend": "crop"}}))
    emgan("run", recipe, "-o", tmp_path / "run", check_rc=0)
    source = read_map(m)
    assert np.allclose(source.voxel_size, 1.34)
    proc = emgan("infer", tmp_path / "run", m, "-o", tmp_path / "same.mrc", check_rc=0)
    assert "resampled" not in proc.stderr
    same = read_map(tmp_path / "same.mrc")
    for voxel in (1.0, (1.0, 1.5, 2.0)):
        relabelled = tmp_path / f"relabelled-{len(np.atleast_1d(voxel))}.mrc"
        write_map(relabelled, Volume(source.data, voxel_size=voxel, origin=source.origin))
        out_path = tmp_path / f"out-{relabelled.name}"
        proc = emgan("infer", tmp_path / "run", relabelled, "-o", out_path, check_rc=0)
        assert "the model was trained at 1.34 Å: the map is resampled to 1.34 Å" in proc.stderr
        out = read_map(out_path)
        assert out.shape == source.shape and np.allclose(out.voxel_size, voxel)
        assert np.abs(out.data - same.data).max() > 1e-3  # not the same values as at 1.34 Å
