"""GPU check: the speed figures that need a GPU, in one run, as one JSON record and one Markdown table.

Measured on ``--device`` (default cuda):

1. struc2mapGAN training throughput (cubes/s): one step = generator (UNet++ 32-64-128-256) and
   critic updates on a batch of 32³ cubes (BCE + 100 × smooth-L1, NAdam), as the paper trains; at
   fp32 and bf16 autocast, NCDHW and channels-last, ``torch.compile`` off and on. Synthetic cubes
   already on the device: this is the network's ceiling, not the data pipeline's.
2. SuperEM enhancement of a 260³ map at 1 Å (the EM-GAN paper: "a map with 260³ can take 2 hours"),
   with ``emgan superem enhance`` in paper mode (stride 4) and fast mode (``--fast``); the
   published weights when ../shared/data/pretrained/emgan_G_model exists, random ones otherwise.
3. struc2mapGAN generation (``emgan struc2mapgan generate``, paper-width generator with random
   weights) of the 8I2H, 2k and 13k cases of ``struc2mapgan_generate.py``, nearest the paper's
   644 / 2,501 / 12,868 residues.
4. Gaussian simulation on the device against gemmi's DensityCalculatorE on the CPU (one thread),
   same atoms and grid (``simulate_gaussian.py``).

Targets (printed next to each figure): ≥ 450 training cubes/s at bf16 on an H100/H200-class GPU,
a 260³ SuperEM map in ≤ 30 s, a 2,501-residue map in ≤ 1 s.

``--tiny`` runs every part on small inputs (narrow networks and one cube per training step, a 25³
map, 2 boxes of the generator extrapolated to the rest, 8I2H only, no ``torch.compile``) so that the script can be tested on a CPU; its figures are not
benchmarks.

    python benchmarks/gpu_check.py --device cuda -o out/gpu-check
    python benchmarks/gpu_check.py --device cpu --tiny -o /tmp/gpu-check
"""

from __future__ import annotations

import argparse
import io
import contextlib
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_record import machine, write_record  # noqa: E402

ROOT = HERE.parent
WEIGHTS = ROOT.parent / "shared" / "data" / "pretrained" / "emgan_G_model"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- 1. training throughput ---------------------------------------------------------------------

def training_step_fn(widths, batch, device, precision, channels_last, compiled):
    """A closure running one G + D step of struc2mapGAN's game on synthetic cubes."""
    from emgan_struc2mapgan.networks import Struc2mapCritic, UNetPP3D

    torch.manual_seed(0)
    gen = UNetPP3D(list(widths)).to(device)
    critic = Struc2mapCritic(widths=list(widths)).to(device)
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    gen, critic = gen.to(memory_format=fmt), critic.to(memory_format=fmt)
    opt_g = torch.optim.NAdam(gen.parameters(), lr=1e-4)
    opt_d = torch.optim.NAdam(critic.parameters(), lr=1e-4)
    g_run, d_run = (torch.compile(gen), torch.compile(critic)) if compiled else (gen, critic)
    x = torch.rand(batch, 1, 32, 32, 32, device=device).contiguous(memory_format=fmt)
    y = torch.rand(batch, 1, 32, 32, 32, device=device).contiguous(memory_format=fmt)
    bce = torch.nn.BCEWithLogitsLoss()
    dtype = torch.bfloat16 if precision == "bf16" else None
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)

    def autocast():
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=dtype)

    def step():
        with autocast():
            fake = g_run(x)
            d_loss = bce(d_run(y), ones) + bce(d_run(fake.detach()), zeros)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        with autocast():
            g_loss = bce(d_run(fake), ones) + 100.0 * torch.nn.functional.smooth_l1_loss(fake.float(), y)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()

    return step


def training_throughput(widths, batch, steps, warmup, device, variants, raw: dict) -> list[list]:
    """Rows of training cubes/s per variant; the unrounded figures go to ``raw`` by row label."""
    rows = []
    for precision, channels_last, compiled in variants:
        label = f"{precision}, {'channels-last' if channels_last else 'NCDHW'}, compile {'on' if compiled else 'off'}"
        try:
            step = training_step_fn(widths, batch, device, precision, channels_last, compiled)
            t0 = time.perf_counter()
            for _ in range(warmup):
                step()
            sync(device)
            t_warm = time.perf_counter() - t0
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            sync(device)
            seconds = time.perf_counter() - t0
        except Exception as err:  # noqa: BLE001 - a variant the platform lacks is reported, not fatal
            rows.append([f"training {label}", "failed", "cubes/s", "", f"{type(err).__name__}: {str(err)[:80]}"])
            continue
        rate = batch * steps / seconds
        raw[f"training {label}"] = {"batch": batch, "steps": steps, "seconds": seconds, "rate": rate}
        target = "≥ 450 (bf16, H100/H200)" if precision == "bf16" else ""
        rows.append([f"training {label}", round(rate, 1), "cubes/s", target,
                     f"batch {batch}, {steps} steps in {seconds:.2f} s after {warmup} warm-up ({t_warm:.1f} s)"])
        print(f"  training {label}: {rate:.1f} cubes/s", flush=True)
    return rows


# -- 2. SuperEM on a 260³ map -------------------------------------------------------------------

def superem_rows(size: int, device: str, folder: Path, tiny: bool) -> list[list]:
    from emgan_core.cli.main import main as emgan
    from emgan_core.io import read_structure, write_map
    from emgan_core.simulators import GaussianSimulator
    from emgan_core.volume import Volume

    from struc2mapgan_generate import build_case, random_checkpoint

    case = "8i2h" if tiny else "10k"
    atoms = read_structure(build_case(case, folder))
    centre = (atoms.xyz.min(0) + atoms.xyz.max(0)) / 2
    grid = Volume(np.zeros((size,) * 3, np.float32), voxel_size=1.0, origin=np.round(centre - size / 2))
    vol = GaussianSimulator(resolution=4.0, voxel_size=1.0).simulate(atoms, grid=grid)
    map_path = folder / f"superem_{size}.mrc"
    write_map(map_path, vol)
    if WEIGHTS.exists() and not tiny:
        ckpt = folder / "superem_published.pt"
        with contextlib.redirect_stderr(io.StringIO()):
            code = emgan(["superem", "import-weights", str(WEIGHTS), "-o", str(ckpt)])
        if code:
            raise SystemExit("emgan superem import-weights failed")
        weights = "published EM-GAN weights"
    else:
        ckpt, _ = random_checkpoint(folder, "superem")
        weights = "random weights"
    rows = []
    for label, extra in (("paper mode (stride 4)", []), ("fast mode (--fast)", ["--fast"])):
        out = folder / f"superem_{size}_{len(extra)}.mrc"
        argv = ["superem", "enhance", str(map_path), "-o", str(out), "--ckpt", str(ckpt), "--device", device,
                *extra]
        t0 = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            code = emgan(argv)
        seconds = time.perf_counter() - t0
        if code:
            rows.append([f"SuperEM {size}³ {label}", "failed", "s", "≤ 30", f"exit {code}"])
            continue
        rows.append([f"SuperEM {size}³ {label}", round(seconds, 2), "s", "≤ 30" if not tiny else "",
                     f"{weights}; 4 Å Gaussian map of the {case} case, 1 Å voxels"])
        print(f"  SuperEM {size}³ {label}: {seconds:.1f} s", flush=True)
    return rows


# -- 3. struc2mapGAN generation -----------------------------------------------------------------

def generation_rows(cases, device, folder, tiny, raw: dict) -> list[list]:
    from struc2mapgan_generate import build_case, random_checkpoint, run_case

    overrides = ["generator.params.widths=[4,8,16,32]"] if tiny else []
    ckpt, params = random_checkpoint(folder, overrides=overrides)
    opts = types.SimpleNamespace(device=device, batch_size=2 if tiny else None, max_windows=2 if tiny else 0,
                                 verbose=False)
    rows = []
    for case in cases:
        path = build_case(case, folder)
        if path is None:
            rows.append([f"struc2mapGAN generate {case}", "skipped", "s", "", "structures not in ../shared/data"])
            continue
        r = run_case(case, path, ckpt, opts, folder)
        target = "≤ 1 (2,501 res)" if case == "2k" else ""
        label = f"struc2mapGAN generate {case} ({r['residues']:,} res)"
        raw[label] = {k: r[k] for k in ("read", "simulate", "inference", "write", "total", "windows")}
        rows.append([label, round(r["total"], 2), "s", target,
                     f"read {r['read']:.2f} + simulate {r['simulate']:.2f} + inference {r['inference']:.2f} + "
                     f"write {r['write']:.2f} s; {r['windows']} boxes ({r['windows_with_density']} with density); "
                     f"paper A100 {r['paper']} → ratio {r['ratio']:.2f}; random weights ({params:,} parameters)"
                     + ("; inference extrapolated" if r["extrapolated"] else "")])
        print(f"  generate {case}: {r['total']:.2f} s", flush=True)
    return rows


# -- 4. Gaussian simulation ---------------------------------------------------------------------

def simulation_rows(device, labels, resolutions, repeats) -> list[list]:
    from simulate_gaussian import gemmi_calculator, pearson, structures

    from emgan_core.io import read_structure
    from emgan_core.simulators import GaussianSimulator

    rows = []
    for label, path in structures(labels):
        atoms = read_structure(path, hydrogens=True, hetero=False)
        for res in resolutions:
            sim = GaussianSimulator(resolution=res, voxel_size=1.0, device=device)
            grid = sim.grid_for(atoms)
            run_gemmi, gemmi_map = gemmi_calculator(atoms, grid, sim.sigma)
            sim.simulate(atoms, grid=grid)
            run_gemmi()
            t_ours, t_gemmi = [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                ours = sim.simulate(atoms, grid=grid)  # returns a host array: includes the copy back
                t_ours.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                run_gemmi()
                t_gemmi.append(time.perf_counter() - t0)
            te, tg = min(t_ours), min(t_gemmi)
            rows.append([f"Gaussian simulation {label} {res:g} Å ({len(atoms):,} atoms)", round(te, 4), "s", "",
                         f"gemmi DensityCalculatorE on the CPU {tg:.4f} s → gemmi/emgan {tg / te:.1f}×; "
                         f"r = {pearson(ours.data, gemmi_map()):.4f}"])
            print(f"  simulation {label} {res:g} Å: {te:.4f} s vs gemmi {tg:.4f} s", flush=True)
    return rows


def markdown_table(rows, mach, title) -> str:
    lines = [f"# {title}", "", f"Machine: {mach.get('gpu') or mach.get('cpu')} ({mach.get('device')}); "
             f"{mach.get('cores')} CPU cores; torch {mach.get('torch')}", "",
             "| measure | value | unit | target | details |", "|---|---:|---|---|---|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="small inputs, to test the script on a CPU")
    ap.add_argument("-o", "--output", default="out/gpu-check", help="folder for gpu_check.json and gpu_check.md")
    ap.add_argument("--skip", nargs="*", default=[], choices=["training", "superem", "generate", "simulate"])
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: error: --device cuda but CUDA is not available (use --device cpu --tiny to test)",
              file=sys.stderr)
        return 2
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32
    mach = machine(args.device)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rows, raw = [], {}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "training" not in args.skip:
            if args.tiny:
                variants = [("fp32", False, False), ("bf16", True, False)]
                rows += training_throughput((4, 8, 16, 32), 1, 1, 1, device, variants, raw)
            else:
                variants = [("fp32", False, False), ("fp32", True, False), ("bf16", False, False),
                            ("bf16", True, False), ("fp32", True, True), ("bf16", True, True)]
                rows += training_throughput((32, 64, 128, 256), 32, 10, 3, device, variants, raw)
        if "superem" not in args.skip:
            rows += superem_rows(25 if args.tiny else 260, args.device, folder, args.tiny)
        if "generate" not in args.skip:
            rows += generation_rows(["8i2h"] if args.tiny else ["8i2h", "2k", "13k"], args.device, folder, args.tiny,
                                    raw)
        if "simulate" not in args.skip:
            rows += simulation_rows(args.device, ["8I2H"] if args.tiny else None,
                                    [2.0] if args.tiny else [2.0, 5.0], 1 if args.tiny else 3)
    title = "emgan GPU check" + (" (--tiny: a test run, not a benchmark)" if args.tiny else "")
    record = {"benchmark": "gpu-check", "title": title,
              "peer": "the papers' figures and the targets (≥ 450 training cubes/s bf16; 260³ SuperEM ≤ 30 s; "
                      "2,501-residue map ≤ 1 s); gemmi on the CPU for simulation",
              "columns": ["measure", "value", "unit", "target", "details"], "rows": rows, "headline": [],
              "raw": raw,  # unrounded figures behind the rows, by row label
              "notes": [f"whole check {time.perf_counter() - t_start:.0f} s"]}
    write_record(out / "gpu_check.json", record, mach)
    (out / "gpu_check.md").write_text(markdown_table(rows, mach, title))
    print(f"wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'} in {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
