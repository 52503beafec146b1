"""Bad input: one line naming the file and the problem, exit status 2, no output left behind."""

import os

import numpy as np
import pytest

from emgan_core import Volume
from emgan_core.io import write_map


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


def test_truncated_mrc(emgan, good_map, tmp_path):
    bad = tmp_path / "truncated.mrc"
    bad.write_bytes(good_map.read_bytes()[:3000])
    out = tmp_path / "out.json"
    proc = emgan("eval", bad, good_map)
    _one_error_line(proc, str(bad), "truncated")
    assert not out.exists()


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
                          "resolution=-2"), "resolution", "positive")
    assert not out.exists()
