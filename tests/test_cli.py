"""The CLI: help with examples, simulate + eval (the README's main job), JSON output."""

import json

import mrcfile
import numpy as np
import pytest

from emgan_core.io import read_map

COMMANDS = ["plugins", "recipes", "validate", "simulate", "eval"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_an_example(emgan, command):
    proc = emgan(command, "--help", check_rc=0)
    assert "example:" in proc.stdout and f"emgan {command}" in proc.stdout


def test_simulate_then_eval(emgan, data_dir, tmp_path):
    pdb = data_dir / "8i2h_ref.pdb"
    s2, s4 = tmp_path / "s2.mrc", tmp_path / "s4.mrc"
    emgan("simulate", "gaussian", pdb, "-o", s2, "resolution=2.0", "voxel_size=1.0", check_rc=0)
    emgan("simulate", "gaussian", pdb, "-o", s4, "resolution=4.0", "--on-grid", s2, check_rc=0)
    a, b = read_map(s2), read_map(s4)
    assert a.same_grid(b)
    with mrcfile.open(s2) as mrc:
        assert mrcfile.validate(str(s2), print_file=open("/dev/null", "w"))
        assert mrc.voxel_size.x == pytest.approx(1.0)
    proc = emgan("eval", s4, s2, "--metrics", "ssim,box-correlation,pearson,thresholded-pcc,fsc", "--json", check_rc=0)
    out = json.loads(proc.stdout)
    m = out["metrics"]
    assert 0.5 < m["pearson"] < 0.99 and 0.5 < m["ssim"] < 1.0
    assert m["box_cc"] >= m["pearson"]  # about zero >= about mean for positive maps
    assert len(out["curves"]["fsc"]["x"]) == len(out["curves"]["fsc"]["y"]) > 10


def test_eval_resamples_onto_the_reference(emgan, data_dir, tmp_path):
    ref = data_dir / "emd2566_3J6B_chain9.mrc"
    sim = tmp_path / "sim.mrc"
    emgan("simulate", "gaussian", data_dir / "3J6B_chain9.pdb", "-o", sim, "resolution=4.0", check_rc=0)
    proc = emgan("eval", sim, ref, "--metrics", "box-correlation-about-mean", "--json", check_rc=0)
    assert "resampled onto the grid" in proc.stderr
    assert json.loads(proc.stdout)["metrics"]["box_cam"] > 0.5


def test_eval_metric_parameters(emgan, data_dir):
    m = data_dir / "emringerweb_test_map.ccp4"
    proc = emgan("eval", m, m, "--metrics", "fsc", "fsc.thresholds=[0.3]", "--json", check_rc=0)
    assert list(json.loads(proc.stdout)["metrics"]) == ["resolution_0.3_A"]
    proc = emgan("eval", m, m, "--metrics", "fsc", "fsc.threshold=0.3")
    assert proc.returncode == 2 and "did you mean 'thresholds'" in proc.stderr


def test_stack_eval_with_pixel_size(emgan, tmp_path):
    rng = np.random.default_rng(0)
    stack = tmp_path / "s.mrcs"
    with mrcfile.new(str(stack)) as mrc:
        mrc.set_data(rng.random((3, 32, 32)).astype(np.float32))
        mrc.voxel_size = 0
    proc = emgan("eval", stack, stack, "--metrics", "frc")
    assert proc.returncode == 2 and "pixel size" in proc.stderr
    proc = emgan("eval", stack, stack, "--metrics", "frc", "--pixel-size", "1.5", "--json", check_rc=0)
    assert json.loads(proc.stdout)["metrics"]["resolution_0.5_A"] == pytest.approx(3.0, rel=0.1)


def test_the_registry_reserves_exactly_the_core_commands():
    """A plugin command may not take a core command's name: the registry's list is the CLI's."""
    import argparse

    from emgan_core.cli.commands import add_core_commands
    from emgan_core.registry import CORE_COMMANDS

    sub = argparse.ArgumentParser().add_subparsers()
    add_core_commands(sub)
    assert set(sub.choices) == CORE_COMMANDS


def test_a_reader_that_leaves_early_gets_no_traceback(monkeypatch, capsys):
    """`emgan plugins | head -1`: the pipe closes under the listing; the exit is quiet (status 141,
    as a shell reports SIGPIPE), with nothing on stderr."""
    import os
    import sys

    from emgan_core.cli.main import main

    read_end, write_end = os.pipe()
    os.close(read_end)
    saved = os.dup(1)
    try:
        os.dup2(write_end, 1)
        monkeypatch.setattr(sys, "stdout", os.fdopen(os.dup(1), "w", buffering=1))
        assert main(["plugins"]) == 141
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(write_end)
    assert "Traceback" not in capsys.readouterr().err


def test_a_warning_is_one_line_without_our_source(data_dir, tmp_path):
    """A warning while a command runs reaches the user as `emgan: warning: …`, one line, not with
    the line of emgan's code that raised it (`--debug` keeps Python's form)."""
    import subprocess
    import sys

    from emgan_core.io import write_map

    grid = read_map(data_dir / "emringerweb_test_map.ccp4")
    grid.origin = grid.origin + 0.5 * np.asarray(grid.voxel_size)  # half a voxel: gemmi and ChimeraX disagree
    with pytest.warns(RuntimeWarning, match="not a whole number of voxels"):
        write_map(tmp_path / "shifted.mrc", grid)
    command = [sys.executable, "-c", "import sys; from emgan_core.cli.main import main; sys.exit(main())",
               "simulate", "gaussian", str(data_dir / "emringerweb_test_model.pdb"), "--on-grid",
               str(tmp_path / "shifted.mrc")]
    proc = subprocess.run(command + ["-o", str(tmp_path / "sim.mrc")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stderr.splitlines() if "not a whole number of voxels" in line]
    assert len(warned) == 1 and warned[0].startswith("emgan: warning: origin "), proc.stderr
    assert "write_map(" not in proc.stderr and "RuntimeWarning" not in proc.stderr
    debug = subprocess.run(command + ["-o", str(tmp_path / "sim2.mrc"), "--debug"], capture_output=True, text=True)
    assert debug.returncode == 0 and "RuntimeWarning" in debug.stderr


@pytest.mark.parametrize("argv,needle", [
    (["models", "lst"], "emgan: error: models: argument action: invalid choice: 'lst'"),
    (["simulate", "gaussian"], "emgan: error: simulate: the following arguments are required"),
    ([], "emgan: error: the following arguments are required: COMMAND"),
])
def test_a_usage_error_is_one_line(emgan, argv, needle):
    """Mistyped or missing arguments: one line naming the command and the problem, with where the
    usage is, exit 2 (argparse's own form is two lines, usage first)."""
    proc = emgan(*argv)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(needle), proc.stderr
    assert lines[0].endswith("--help` shows the usage)")
