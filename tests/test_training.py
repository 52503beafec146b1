"""The trainer: a tiny paired task learns; run directory; TensorBoard; exact resume; DDP; options."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml

from emgan_core.io import read_map

RECIPE = """\
description: tiny paired task (tests)
task: {{name: paired, params: {{conditional: true}}}}
generator: {{name: toy-conv, params: {{channels: 8, depth: 2}}}}
critic: {{name: patchgan, params: {{in_channels: 2, channels: 8, spatial_dims: 3}}}}
losses:
  - {{name: bce, weight: 1.0}}
  - {{name: l1, weight: 100.0}}
data:
  train: [{{input: {lo}, target: {hi}}}]
  val: [{{input: {lo}, target: {hi}}}]
train:
  steps: {steps}
  batch_size: 4
  patch_size: 16
  seed: 3
  log_every: 5
  val_every: {val_every}
  checkpoint_every: {ckpt}
  deterministic: true
  optimizer: {{name: adam, lr: 1.0e-3, betas: [0.5, 0.999]}}
eval: {{window: 16, window_core: 10, blend: crop}}
"""


@pytest.fixture(scope="module")
def pair(tmp_path_factory, data_dir):
    from emgan_core.io import read_structure, write_map
    from emgan_core.simulators import GaussianSimulator

    d = tmp_path_factory.mktemp("pair")
    atoms = read_structure(data_dir / "emringerweb_test_model.pdb")
    lo = GaussianSimulator(resolution=6.0, voxel_size=1.5).simulate(atoms)
    hi = GaussianSimulator(resolution=3.0).simulate(atoms, grid=lo)
    write_map(d / "lo.mrc", lo)
    write_map(d / "hi.mrc", hi)
    return d / "lo.mrc", d / "hi.mrc"


def write_recipe(path, pair, steps=200, val_every=50, ckpt=100, **extra):
    text = RECIPE.format(lo=pair[0], hi=pair[1], steps=steps, val_every=val_every, ckpt=ckpt)
    data = yaml.safe_load(text)
    for key, value in extra.items():
        section, _, name = key.partition("__")
        data.setdefault(section, {})[name] = value
    path.write_text(yaml.safe_dump(data))
    return path


def test_tiny_task_learns_and_run_dir_is_complete(example_plugin, pair, tmp_path, emgan):
    recipe = write_recipe(tmp_path / "r.yaml", pair, steps=200)
    run = tmp_path / "run"
    proc = emgan("run", recipe, "-o", run, check_rc=0)
    assert "steps/s" in proc.stderr and "ETA" in proc.stderr  # plain periodic lines off a terminal
    for part in ["recipe.yaml", "environment.json", "train.log", "scalars.jsonl", "metrics.json",
                 "checkpoints/last.pt", "checkpoints/step-0000100.pt", "checkpoints/step-0000200.pt"]:
        assert (run / part).exists(), part
    env = json.loads((run / "environment.json").read_text())
    assert env["seed"] == 3 and env["plugins"]["example"]["distribution"] == "emgan-plugin-example"
    assert "git_commit" in env and env["torch"] == torch.__version__
    val = json.loads((run / "metrics.json").read_text())["validation"]
    first, last = val[0]["val/l1"], val[-1]["val/l1"]
    print(f"\n  validation L1: step {val[0]['step']} {first:.4f} -> step {val[-1]['step']} {last:.4f}")
    assert val[0]["step"] == 0 and last < 0.5 * first
    # TensorBoard can read the events back
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "events"), size_guidance={"images": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {"generator/l1", "generator/adversarial", "critic/adversarial", "val/l1", "lr/generator"} <= set(tags["scalars"])
    assert {"slices/input", "slices/output", "slices/target"} <= set(tags["images"])
    assert [e.step for e in acc.Scalars("val/l1")] == [0, 50, 100, 150, 200]
    # checkpoints hold plain data and load with weights_only
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["step"] == 200 and ckpt["inference"]["eval"]["window"] == 16
    assert ckpt["components"]["networks"]["generator"]["name"] == "toy-conv"
    # inference needs no recipe
    out = tmp_path / "out.mrc"
    emgan("infer", run, pair[0], "-o", out, check_rc=0)
    src, res = read_map(pair[0]), read_map(out)
    assert res.same_grid(src) and np.isfinite(res.data).all()


def test_sigkill_and_resume_reproduce_the_uninterrupted_run(example_plugin, pair, tmp_path, emgan):
    recipe = write_recipe(tmp_path / "r.yaml", pair, steps=150, val_every=50, ckpt=25)
    ref = tmp_path / "uninterrupted"
    emgan("run", recipe, "-o", ref, check_rc=0, subprocess=True)  # fresh processes, as the killed run
    # the run to kill is asked for far more steps than it can make before the kill (no race): it is
    # killed once its step-25 checkpoint exists, then resumed to the reference run's 150 steps
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "emgan_core.cli.main", "run", str(recipe), "-o", str(run),
                             "train.steps=1000000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (run / "checkpoints" / "step-0000025.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    from emgan_core.io.checkpoints import find_checkpoint

    killed_at = torch.load(find_checkpoint(run), weights_only=True)["step"]
    assert 25 <= killed_at < 150
    (run / "checkpoints" / ".step-0000050.pt.abcd1234.tmp").write_bytes(b"PK")  # as a kill mid-write leaves
    emgan("run", "--resume", run, "train.steps=150", check_rc=0, subprocess=True)
    assert not (run / "checkpoints" / ".step-0000050.pt.abcd1234.tmp").exists()
    assert yaml.safe_load((run / "recipe.yaml").read_text())["train"]["steps"] == 150
    a = [json.loads(x) for x in (ref / "scalars.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in (run / "scalars.jsonl").read_text().splitlines()]
    assert [r["step"] for r in a] == [r["step"] for r in b]
    assert a == b  # bit-identical loss trajectory
    ma = json.loads((ref / "metrics.json").read_text())
    mb = json.loads((run / "metrics.json").read_text())
    assert ma["weights_digest"] == mb["weights_digest"]
    assert ma["validation"] == mb["validation"]


def test_two_process_gloo_ends_with_identical_weights(example_plugin, pair, tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", pair, steps=20, val_every=10, ckpt=10)
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",  # picks its own port
         "-m", "emgan_core.cli.main", "run", str(recipe), "-o", str(run)],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the ranks write to one stderr concurrently: lines can interleave, so match the digests exactly
    digests = dict(re.findall(r"(rank \d+): final weights digest ([0-9a-f]{16})", proc.stderr))
    assert set(digests) == {"rank 0", "rank 1"}
    assert digests["rank 0"] == digests["rank 1"]
    assert "world size 2" in (run / "train.log").read_text()
    assert json.loads((run / "metrics.json").read_text())["weights_digest"] == digests["rank 0"]


def test_wasserstein_options_ema_schedule_and_cpu_fallbacks(example_plugin, pair, tmp_path, emgan):
    recipe = write_recipe(tmp_path / "r.yaml", pair, steps=12, val_every=6, ckpt=12,
                          train__critic_steps=2, train__weight_clip=0.01, train__grad_clip=1.0,
                          train__ema=0.9, train__precision="bf16", train__channels_last=True,
                          train__lr_schedule={"name": "cosine"},
                          train__critic_optimizer={"name": "rmsprop", "lr": 5.0e-4})
    data = yaml.safe_load(recipe.read_text())
    data["losses"][0]["name"] = "wasserstein"
    recipe.write_text(yaml.safe_dump(data))
    run = tmp_path / "run"
    proc = emgan("run", recipe, "-o", run, check_rc=0)
    assert "precision bf16 needs CUDA: running fp32 on cpu" in proc.stderr
    assert "channels_last helps on CUDA only" in proc.stderr
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    critic = ckpt["state"]["networks"]["critic"]
    assert max(float(t.abs().max()) for k, t in critic.items() if "running" not in k
               and "num_batches" not in k) <= 0.01 + 1e-7
    assert ckpt["state"]["ema"]["generator"]
    lrs = [json.loads(x)["lr/generator"] for x in (run / "scalars.jsonl").read_text().splitlines()]
    assert lrs[-1] < lrs[0]  # cosine schedule decays
    # gradient penalty variant
    data["train"]["weight_clip"] = None
    data["train"]["gradient_penalty"] = 10.0
    recipe.write_text(yaml.safe_dump(data))
    proc = emgan("run", recipe, "-o", tmp_path / "gp", check_rc=0)
    assert "critic/gradient_penalty" in (tmp_path / "gp" / "scalars.jsonl").read_text()


def test_compile_runs_on_cpu(example_plugin, pair, tmp_path):
    """train.compile compiles the generator with torch.compile (graphs made by dynamo) and trains."""
    from torch._dynamo.utils import counters

    from emgan_core.cli.main import main

    recipe = write_recipe(tmp_path / "r.yaml", pair, steps=3, val_every=3, ckpt=3, train__compile=True)
    data = yaml.safe_load(recipe.read_text())
    del data["critic"]
    data["losses"] = [{"name": "l1"}]
    recipe.write_text(yaml.safe_dump(data))
    torch._dynamo.reset()
    counters.clear()
    assert main(["run", str(recipe), "-o", str(tmp_path / "run")]) == 0  # in this process: its counters
    assert counters["stats"]["unique_graphs"] >= 1, dict(counters["stats"])
    assert "torch.compile unavailable" not in (tmp_path / "run" / "train.log").read_text()
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["step"] == 3


def test_run_errors_are_one_line(example_plugin, pair, tmp_path, emgan):
    recipe = write_recipe(tmp_path / "r.yaml", pair, steps=3, train__optimizer={"name": "adamm", "lr": 1e-3})
    proc = emgan("run", recipe, "-o", tmp_path / "run")
    assert proc.returncode == 2 and "train.optimizer.name: expected one of 'adam', 'nadam', 'rmsprop', 'adamw', " \
        "got 'adamm' (did you mean 'adam'?)" in proc.stderr
    recipe = write_recipe(tmp_path / "r.yaml", pair, steps=3, train__precision="fp8")
    proc = emgan("run", recipe, "-o", tmp_path / "run")
    assert proc.returncode == 2 and "train.precision: expected one of 'fp32', 'bf16', 'fp16'" in proc.stderr
    proc = emgan("run", "--resume", tmp_path / "nothing")
    assert proc.returncode == 2 and "not a run directory" in proc.stderr
    bad = tmp_path / "evil.pt"
    bad.write_bytes(b"not a zip")
    proc = emgan("infer", bad, pair[0], "-o", tmp_path / "o.mrc")
    assert proc.returncode == 2 and "not a checkpoint file" in proc.stderr
    assert not (tmp_path / "o.mrc").exists()


def test_a_map_model_refuses_a_particle_stack(example_plugin, pair, tmp_path, emgan, shared_dir):
    """A 3D (map) model given a RELION particle stack: one line naming the file, no output."""
    recipe = write_recipe(tmp_path / "r.yaml", pair, steps=2)
    emgan("run", recipe, "-o", tmp_path / "run", check_rc=0)
    stack = shared_dir / "particles" / "relion31" / "relion31.mrcs"
    proc = emgan("infer", tmp_path / "run", stack, "-o", tmp_path / "o.mrc")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert f"{stack}: this model works on 3D maps" in proc.stderr
    assert not (tmp_path / "o.mrc").exists()
