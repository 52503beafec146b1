"""Trainer overhead per step against a hand-written minimal loop on the same model and data.

Both run supervised steps (fetch a batch, forward, L1, backward, Adam) of the same small 3D network
on the same patch dataset and DataLoader settings. Each step is timed from fetching its batch to the
end of its update (the trainer keeps these times as ``Trainer.step_seconds``), so set-up — building,
TensorBoard writer, final checkpoint — is left out; the first 5 steps are warm-up. Runs alternate,
and the median step time over all repeats is compared. Prints the ratio trainer / minimal
(target ≤ 1.05 on CPU).

    python benchmarks/trainer_overhead.py [--steps 60] [--repeats 3] [--width 16] [--patch 24]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_record import machine, write_record  # noqa: E402

from emgan_core import Component, hookimpl
from emgan_core.interfaces import Generator
from emgan_core.io import read_structure, write_map
from emgan_core.recipes import Recipe
from emgan_core.registry import collect, plugin_manager
from emgan_core.simulators import GaussianSimulator
from emgan_core.training.trainer import Trainer
from emgan_core.training.data import PatchPairs, StepBatchSampler
from emgan_core.tasks.paired import load_pair

ROOT = Path(__file__).resolve().parents[1]


class BenchNet(Generator):
    """Three 3×3×3 convolutions with PReLU, residual."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.body = nn.Sequential(nn.Conv3d(1, width, 3, padding=1), nn.PReLU(),
                                  nn.Conv3d(width, width, 3, padding=1), nn.PReLU(),
                                  nn.Conv3d(width, 1, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


def registry_with_bench_net():
    mod = types.SimpleNamespace(emgan_generators=hookimpl(lambda: [Component("bench-net", BenchNet, "x")]))
    pm, origin = plugin_manager([("bench", mod, "benchmarks", "0")])
    return collect(pm, origin)


def make_data(folder: Path) -> tuple[Path, Path]:
    atoms = read_structure(ROOT / "examples/data/3J6B_chain9.pdb")
    lo = GaussianSimulator(resolution=6.0).simulate(atoms)
    hi = GaussianSimulator(resolution=2.5).simulate(atoms, grid=lo)
    write_map(folder / "lo.mrc", lo)
    write_map(folder / "hi.mrc", hi)
    return folder / "lo.mrc", folder / "hi.mrc"


def recipe(lo, hi, steps, width, patch, batch) -> Recipe:
    return Recipe({
        "task": {"name": "paired"}, "generator": {"name": "bench-net", "params": {"width": width}},
        "losses": [{"name": "l1"}],
        "data": {"train": [{"input": str(lo), "target": str(hi)}]},
        "train": {"steps": steps, "batch_size": batch, "patch_size": patch, "log_every": 10,
                  "val_every": 10**9, "checkpoint_every": 10**9, "seed": 0,
                  "optimizer": {"name": "adam", "lr": 1e-3}},
    })


WARMUP = 5


def time_trainer(reg, lo, hi, steps, width, patch, batch, folder) -> list[float]:
    run = Path(tempfile.mkdtemp(dir=folder))
    trainer = Trainer(recipe(lo, hi, steps + WARMUP, width, patch, batch), run, registry=reg)
    trainer.fit()
    return trainer.step_seconds[WARMUP:]


def time_minimal(lo, hi, steps, width, patch, batch) -> list[float]:
    torch.manual_seed(0)
    model = BenchNet(width)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    item = {"input": str(lo), "target": str(hi)}
    ds = PatchPairs([lambda: load_pair(item, "minmax", 3, None)], patch, length=2**62, seed=0)
    loader = DataLoader(ds, batch_sampler=StepBatchSampler(batch))
    it = iter(loader)
    times = []
    for _ in range(steps + WARMUP):
        t0 = time.perf_counter()
        b = next(it)
        loss = nn.functional.l1_loss(model(b["input"]), b["target"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times[WARMUP:]


from torch.utils.data import DataLoader  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--patch", type=int, default=24)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--json", help="write the machine-readable record here")
    args = ap.parse_args()
    mach = machine("cpu")
    import logging

    logging.disable(logging.INFO)
    reg = registry_with_bench_net()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lo, hi = make_data(folder)
        per_step = {"trainer": [], "minimal": []}
        for _ in range(args.repeats):
            per_step["minimal"] += time_minimal(lo, hi, args.steps, args.width, args.patch, args.batch)
            per_step["trainer"] += time_trainer(reg, lo, hi, args.steps, args.width, args.patch,
                                                args.batch, folder)
    t, m = float(np.median(per_step["trainer"])), float(np.median(per_step["minimal"]))
    q = {k: np.percentile(v, [25, 75]) * 1e3 for k, v in per_step.items()}
    print(f"CPU threads {torch.get_num_threads()}, batch {args.batch} × {args.patch}³, width {args.width}, "
          f"{args.steps} timed steps × {args.repeats} alternating repeats")
    print(f"minimal loop : median {m * 1e3:8.2f} ms/step (quartiles {q['minimal'][0]:.2f}–{q['minimal'][1]:.2f})")
    print(f"emgan trainer: median {t * 1e3:8.2f} ms/step (quartiles {q['trainer'][0]:.2f}–{q['trainer'][1]:.2f})")
    print(f"ratio trainer / minimal = {t / m:.3f}  (target <= 1.05)")
    write_record(args.json, {
        "benchmark": "trainer-overhead",
        "title": "Trainer overhead per step: emgan Trainer vs a hand-written loop",
        "peer": "a minimal PyTorch loop (same model, data, DataLoader, optimiser)",
        "columns": ["loop", "median ms/step", "25th pct ms", "75th pct ms"],
        "rows": [["minimal loop", round(m * 1e3, 2), round(q["minimal"][0], 2), round(q["minimal"][1], 2)],
                 ["emgan trainer", round(t * 1e3, 2), round(q["trainer"][0], 2), round(q["trainer"][1], 2)]],
        "headline": [{"label": "emgan trainer / minimal loop, time per step (target <= 1.05)",
                      "ratio": round(t / m, 3)}],
        "notes": [f"batch {args.batch} × {args.patch}³, width {args.width}, {args.steps} timed steps × "
                  f"{args.repeats} alternating repeats, first {WARMUP} steps of each run left out."],
    }, mach)


if __name__ == "__main__":
    main()
