"""Nothing lost: no command overwrites a file unless told, none writes over its own input, a run
directory belongs to one process, and resuming refuses a recipe that no longer fits its checkpoint."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from emgan_core.io import read_map, write_map


def _one_error_line(proc, *needles):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def model(data_dir, tmp_path):
    copy = tmp_path / "model.pdb"
    copy.write_bytes((data_dir / "emringerweb_test_model.pdb").read_bytes())
    return copy


def test_an_existing_output_is_kept_unless_overwrite(emgan, model, tmp_path):
    out = tmp_path / "sim.mrc"
    out.write_bytes(b"precious")
    _one_error_line(emgan("simulate", "gaussian", model, "-o", out, "resolution=3"), str(out), "exists already",
                    "--overwrite")
    assert out.read_bytes() == b"precious"
    emgan("simulate", "gaussian", model, "-o", out, "resolution=3", "--overwrite", check_rc=0)
    assert read_map(out).data.max() > 0


def test_a_command_never_writes_over_its_own_input(emgan, model, data_dir, tmp_path):
    before = model.read_bytes()
    for extra in ([], ["--overwrite"]):
        _one_error_line(emgan("simulate", "gaussian", model, "-o", model, "resolution=3", *extra), str(model),
                        "is an input of this command")
        assert model.read_bytes() == before
    grid = tmp_path / "grid.mrc"
    grid.write_bytes((data_dir / "emringerweb_test_map.ccp4").read_bytes())
    _one_error_line(emgan("simulate", "gaussian", model, "-o", grid, "--on-grid", grid, "--overwrite"),
                    "is an input of this command")
    assert grid.read_bytes() == (data_dir / "emringerweb_test_map.ccp4").read_bytes()


def test_the_policy_holds_at_write_time_for_files_read_along_the_way(tmp_path):
    """A file read while the command runs (not named on its line) is protected when written."""
    from emgan_core import EmganError, Volume
    from emgan_core.io.atomic import output_policy

    path = tmp_path / "m.mrc"
    write_map(path, Volume(np.ones((4, 4, 4), np.float32)))
    with output_policy(overwrite=True):
        read_map(path)
        with pytest.raises(EmganError, match="is an input of this command"):
            write_map(path, Volume(np.zeros((4, 4, 4), np.float32)))
    assert read_map(path).data.max() == 1.0
    with pytest.raises(EmganError, match="exists already"):  # outside a command: the library's default
        write_map(path, Volume(np.zeros((4, 4, 4), np.float32)))
    write_map(path, Volume(np.zeros((4, 4, 4), np.float32)), overwrite=True)
    assert read_map(path).data.max() == 0.0


def test_a_bench_report_is_not_replaced_unless_overwrite(emgan, data_dir, tmp_path):
    bench = tmp_path / "b.yaml"
    bench.write_text(yaml.safe_dump({
        "name": "t", "inputs": [{"input": str(data_dir / "emringerweb_test_model.pdb"),
                                  "reference": str(data_dir / "emringerweb_test_map.ccp4")}],
        "methods": [{"simulator": {"name": "gaussian", "params": {"resolution": 3.0}}}], "metrics": ["pearson"]}))
    out = tmp_path / "report"
    emgan("bench", bench, "-o", out, check_rc=0)
    first = (out / "results.json").read_text()
    (out / "report.md").write_text("my notes")
    _one_error_line(emgan("bench", bench, "-o", out), "results.csv", "exists already")
    assert (out / "report.md").read_text() == "my notes" and (out / "results.json").read_text() == first
    emgan("bench", bench, "-o", out, "--overwrite", check_rc=0)
    assert (out / "report.md").read_text() != "my notes"


def test_unwritable_places_are_one_line(emgan, model):
    _one_error_line(emgan("simulate", "gaussian", model, "-o", "/proc/x.mrc", "resolution=3"), "/proc/x.mrc",
                    "cannot write")


# -- run directories ------------------------------------------------------------------------------

RECIPE = {
    "task": {"name": "paired", "params": {"conditional": False}},
    "generator": {"name": "toy-conv", "params": {"channels": 4, "depth": 1}},
    "losses": [{"name": "l1"}],
    "train": {"steps": 4, "batch_size": 2, "patch_size": 8, "log_every": 2, "val_every": 100,
              "checkpoint_every": 2, "seed": 1},
    "eval": {"window": 8, "window_core": 4, "blend": "crop"},
}


@pytest.fixture
def recipe(example_plugin, data_dir, tmp_path):
    m = str(data_dir / "emd2566_3J6B_chain9.mrc")
    data = dict(RECIPE, data={"train": [{"input": m, "target": m}]})
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_second_process_cannot_train_into_a_run_directory_in_use(recipe, tmp_path, emgan):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-m", "emgan_core.cli.main", "run", str(recipe), "-o", str(run),
                               "train.steps=1000000"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (run / "checkpoints" / "last.pt").exists() and time.time() < deadline and holder.poll() is None:
            time.sleep(0.05)
        assert holder.poll() is None, "the first run ended early"
        line = _one_error_line(emgan("run", recipe, "-o", run), str(run), "in use by process", str(holder.pid))
        assert "choose another -o" in line
        _one_error_line(emgan("run", "--resume", run), "in use by process", str(holder.pid))
        assert yaml.safe_load((run / "recipe.yaml").read_text())["train"]["steps"] == 1000000  # untouched
    finally:
        holder.kill()
        holder.wait()
    # the lock died with its process: another process continues the run (two steps more)
    import torch

    from emgan_core.io.checkpoints import find_checkpoint

    step = torch.load(find_checkpoint(run), weights_only=True)["step"]
    _one_error_line(emgan("run", "--resume", run, f"train.steps={step - 1}"), f"below step {step}")
    emgan("run", "--resume", run, f"train.steps={step + 2}", check_rc=0)


def test_a_finished_run_is_not_overwritten_and_can_be_extended(recipe, tmp_path, emgan):
    run = tmp_path / "run"
    emgan("run", recipe, "-o", run, check_rc=0)
    _one_error_line(emgan("run", recipe, "-o", run), "already holds a run", "--resume")
    _one_error_line(emgan("run", "--resume", run, "train.batch_size=4"), "override train.batch_size=4",
                    "cannot be changed when resuming")
    emgan("run", "--resume", run, "train.steps=6", check_rc=0)
    import torch

    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["step"] == 6


def test_resume_refuses_a_recipe_that_no_longer_fits_its_checkpoint(recipe, tmp_path, emgan):
    run = tmp_path / "run"
    emgan("run", recipe, "-o", run, check_rc=0)
    edited = yaml.safe_load((run / "recipe.yaml").read_text())
    edited["generator"]["params"]["channels"] = 6
    (run / "recipe.yaml").write_text(yaml.safe_dump(edited))
    line = _one_error_line(emgan("run", "--resume", run, "train.steps=6"), "recipe.yaml no longer matches",
                           "networks")
    assert "'channels': 6" in line and "'channels': 4" in line


def test_stale_temporary_files_go_on_resume_and_checkpoints_are_flushed(recipe, tmp_path, emgan, monkeypatch):
    run = tmp_path / "run"
    flushed = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: flushed.append(fd) or real(fd))
    emgan("run", recipe, "-o", run, check_rc=0)
    assert len(flushed) >= 4  # every atomic write is flushed before its rename
    stale = [run / "checkpoints" / ".step-0000006.pt.k3j4h5g6.tmp", run / ".metrics.json.a1b2c3d4.json"]
    for p in stale:
        p.write_bytes(b"half")
    keep = run / "checkpoints" / "notes.txt"
    keep.write_text("mine")
    emgan("run", "--resume", run, "train.steps=6", check_rc=0)
    assert not any(p.exists() for p in stale) and keep.read_text() == "mine"
