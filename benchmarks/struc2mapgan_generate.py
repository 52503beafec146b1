"""Wall time of ``emgan struc2mapgan generate`` (atomic model → map), split into its stages.

Runs the real command (in-process, after the imports) on structures of increasing size and splits
its wall time into loading the model, reading the structure, simulating its map (the checkpoint's
Gaussian simulator), inference (the generator over 32³ boxes with 20³ cores, batched, plus the
split/merge around it) and writing the map. Seconds per residue are compared with the struc2mapGAN
paper's figures (one A100, simulation included): 14 s for 644 residues, 20 s for 2,501, 53 s for
12,868; the ratio emgan / paper is given as measured — a CPU against an A100 is expected to lose.

No trained checkpoint is needed: without ``--ckpt`` the generator is the paper's (the shipped
``struc2mapgan`` recipe, UNet++ 32-64-128-256) with random weights, saved to a temporary
checkpoint. Weights do not change the time (dense convolutions), but the map it writes is
meaningless; timing only.

Structures (``--cases``): ``8i2h`` (568 residues, the paper's example structure), ``2k`` (2 × 6NY1
+ 8I2H, 2,684 residues, the size nearest the paper's 2,501 that the bundled data give), ``10k``
(5A1A + 4V1W + 2 × 6NY1, 10,304 residues, the benchmark assembly) and ``13k`` (10k + 2 × 6NY1 +
8I2H, 12,988 residues, nearest 12,868). Assemblies are packed side by side on a grid with 10 Å
gaps and written as mmCIF.

``--max-windows N`` runs the generator on the first N boxes only and extrapolates the inference
time linearly to all boxes (the other boxes get zeros, costing no network time); the output marks
such rows "extrapolated". Use it where the full run would not fit the time (a paper-width forward
pass is ~1 s per 32³ box on 2 CPU cores).

    python benchmarks/struc2mapgan_generate.py [--cases 8i2h 10k] [--device cpu] [--max-windows 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_record import machine, write_record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"
SHARED = ROOT.parent / "shared" / "data" / "structures"

#: (residues, seconds) on one A100, simulation included (struc2mapGAN paper).
PAPER = [(644, 14.0), (2501, 20.0), (12868, 53.0)]

CASES = {
    "8i2h": ["8i2h"],
    "2k": ["6ny1", "6ny1", "8i2h"],
    "10k": ["5a1a", "4v1w", "6ny1", "6ny1"],
    "13k": ["5a1a", "4v1w", "6ny1", "6ny1", "6ny1", "6ny1", "8i2h"],
}
PARTS = {"8i2h": [DATA / "8i2h_ref.pdb", SHARED / "8i2h_ref.pdb"], "6ny1": [SHARED / "6NY1.pdb"],
         "5a1a": [SHARED / "5a1a.cif"], "4v1w": [SHARED / "4v1w.cif"]}


CORE = 20  # voxels kept from each 32³ box (the struc2mapGAN recipes' eval.window_core)

def part_path(name: str) -> Path | None:
    return next((p for p in PARTS[name] if p.exists()), None)


def build_case(case: str, folder: Path) -> Path | None:
    """The structure file of ``case`` (a single bundled file, or a packed assembly in ``folder``)."""
    import gemmi

    paths = [part_path(n) for n in CASES[case]]
    if any(p is None for p in paths):
        return None
    if len(paths) == 1:
        return paths[0]
    parts = []
    for p in paths:
        st = gemmi.read_structure(str(p))
        st.remove_ligands_and_waters()
        st.remove_alternative_conformations()
        parts.append(st)
    boxes = []
    for st in parts:
        xyz = [a.pos.tolist() for ch in st[0] for r in ch for a in r]
        lo = [min(c[i] for c in xyz) for i in range(3)]
        hi = [max(c[i] for c in xyz) for i in range(3)]
        boxes.append((lo, hi))
    cols = math.ceil(math.sqrt(len(parts)))
    cell_x = max(hi[0] - lo[0] for lo, hi in boxes) + 10.0
    cell_y = max(hi[1] - lo[1] for lo, hi in boxes) + 10.0
    out = gemmi.Structure()
    out.add_model(gemmi.Model("1"))
    names = (f"{a}{b}" for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    for n, (st, (lo, _)) in enumerate(zip(parts, boxes)):
        shift = gemmi.Position((n % cols) * cell_x - lo[0], (n // cols) * cell_y - lo[1], -lo[2])
        for ch in st[0]:
            out[0].add_chain(ch)
            new = out[0][len(out[0]) - 1]
            new.name = next(names)
            for res in new:
                for atom in res:
                    atom.pos = atom.pos + shift
    out.setup_entities()
    path = folder / f"assembly_{case}.cif"
    out.make_mmcif_document().write_file(str(path))
    return path


def random_checkpoint(folder: Path, recipe_name: str = "struc2mapgan", overrides: list[str] = ()) -> tuple[Path, int]:
    """A checkpoint of a shipped recipe's task with randomly initialised networks (timing only);
    returns its path and the generator's parameter count."""
    import torch

    from emgan_core.recipes import load_recipe
    from emgan_core.registry import get_registry
    from emgan_core.io.checkpoints import rng_state, save_checkpoint
    from emgan_core.recipes import build_task, components_of

    torch.manual_seed(0)
    registry = get_registry()
    recipe = load_recipe(recipe_name, list(overrides), registry=registry)
    components = components_of(recipe, registry)
    task, modules = build_task(registry, components, eval=recipe.data.get("eval"))
    payload = {"step": 0, "components": components, "inference": task.inference_spec(), "recipe": recipe.data,
               "state": {"networks": {r: m.state_dict() for r, m in modules.items()}, "ema": {}},
               "rng": rng_state()}
    params = sum(p.numel() for p in modules["generator"].parameters())
    return save_checkpoint(folder / f"random-{recipe_name}.pt", payload), params


class StageTimes:
    """Patches the functions the generate command calls with timed wrappers (restored on exit)."""

    def __init__(self, max_windows: int = 0):
        self.seconds = {"load": 0.0, "read": 0.0, "simulate": 0.0, "write": 0.0}
        self.max_windows = int(max_windows)
        self.windows_run = self.windows_skipped = self.windows_empty = 0
        self.forward_seconds = []  # (boxes, seconds) of each forward pass that ran
        self._undo = []

    def _wrap(self, owner, name, stage):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - t0

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))
        return original

    def _wrap_generator(self, task):
        import torch

        net = task.generator
        forward = net.forward

        def counted(x, *args, **kwargs):
            n = x.shape[0]
            self.windows_empty += int((x.reshape(n, -1).abs().amax(1) == 0).sum())
            if self.max_windows and self.windows_run >= self.max_windows:
                self.windows_skipped += n
                return torch.zeros_like(x)
            t0 = time.perf_counter()
            y = forward(x, *args, **kwargs)
            if x.is_cuda:
                torch.cuda.synchronize()
            self.forward_seconds.append((n, time.perf_counter() - t0))
            self.windows_run += n
            return y

        net.forward = counted

    def seconds_per_window(self) -> float:
        """Forward seconds per box, leaving out the first (warm-up) pass when more than one ran."""
        runs = self.forward_seconds[1:] if len(self.forward_seconds) > 1 else self.forward_seconds
        return sum(t for _, t in runs) / max(sum(n for n, _ in runs), 1)

    def __enter__(self):
        import emgan_core.inference as inference
        import emgan_core.io as io
        import emgan_core.tasks.paired as paired
        from emgan_core.simulators import GaussianSimulator

        self._wrap(inference, "load_for_inference", "load")
        self._wrap(paired, "read_structure", "read")
        self._wrap(GaussianSimulator, "simulate", "simulate")
        self._wrap(io, "write_any", "write")
        wrapped_load = inference.load_for_inference

        def load_and_count(*args, **kwargs):
            task, ckpt = wrapped_load(*args, **kwargs)
            self._wrap_generator(task)
            return task, ckpt

        inference.load_for_inference = load_and_count
        return self

    def __exit__(self, *exc):
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        return False


def per_residue_paper(residues: int) -> tuple[int, float]:
    """The paper's figure nearest in size: (residues, seconds)."""
    return min(PAPER, key=lambda p: abs(math.log(p[0] / residues)))


def run_case(case, path, ckpt, args, folder, mode: str = "boxes") -> dict:
    import torch

    from emgan_core.cli.main import main as emgan
    from emgan_core.io import read_structure

    residues = read_structure(path).n_residues
    out = folder / f"{case}-{mode}.mrc"
    argv = ["struc2mapgan", "generate", str(path), "--ckpt", str(ckpt), "-o", str(out), "--device", args.device]
    if args.batch_size:
        argv += ["--batch-size", str(args.batch_size)]
    if mode == "tiles":
        argv += ["--tiles"]
    with StageTimes(args.max_windows if mode == "boxes" else 0) as st, contextlib.redirect_stderr(sys.stdout if args.verbose else io.StringIO()):
        t0 = time.perf_counter()
        code = emgan(argv)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        total = time.perf_counter() - t0
    if code:
        raise SystemExit(f"emgan struc2mapgan generate failed on {path.name} (exit {code})")
    s = st.seconds
    inference = total - sum(s.values())
    windows = st.windows_run + st.windows_skipped
    extrapolated = st.windows_skipped > 0
    per_window = st.seconds_per_window()
    if extrapolated:
        inference += st.windows_skipped * per_window
        total = sum(s.values()) + inference
    # the same run if boxes whose input is all zero were not passed to the network
    inference_skip = max(inference - st.windows_empty * per_window, 0.0)
    work = total - s["load"]  # what the paper's figure covers: structure in, map out
    p_res, p_sec = per_residue_paper(residues)
    ours_per_res = work / residues
    paper_per_res = p_sec / p_res
    import mrcfile

    with mrcfile.open(out, permissive=True, header_only=True) as m:
        shape = (int(m.header.nz), int(m.header.ny), int(m.header.nx))
    # all 32³ boxes of the 20³-core layout; the generator sees only those with density when the
    # recipe skips empty boxes (eval.windows: nonempty), and every box otherwise
    all_boxes = int(np.prod([-(-n // CORE) for n in shape]))
    if mode == "tiles":  # the generator ran on tiles, not boxes: count those
        all_boxes = windows
        st.windows_empty = 0
    return {"case": case, "mode": mode, "output": out, "residues": residues, "shape": shape, "windows": all_boxes,
            "windows_with_density": windows - st.windows_empty, "per_window": per_window,
            "inference_skip_empty": inference_skip,
            "windows_run": st.windows_run, "extrapolated": extrapolated, "load": s["load"], "read": s["read"],
            "simulate": s["simulate"], "inference": inference, "write": s["write"], "total": work,
            "s_per_residue": ours_per_res, "paper": f"{p_sec:g} s / {p_res:,} res",
            "paper_s_per_residue": paper_per_res, "ratio": ours_per_res / paper_per_res}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="+", default=["8i2h", "10k"], choices=list(CASES))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--ckpt", help="a trained checkpoint (default: the paper's generator, random weights)")
    ap.add_argument("--widths", help="generator widths of the random model, e.g. 4,8,16,32 (default: the paper's)")
    ap.add_argument("--batch-size", type=int, help="32³ boxes per forward pass (default: the checkpoint's)")
    ap.add_argument("--max-windows", type=int, default=0,
                    help="run the generator on this many boxes and extrapolate (0: all)")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    ap.add_argument("--modes", default="boxes", help="boxes (32³ boxes, 20³ cores: the recipe's), tiles (each "
                    "voxel once: --tiles), or both, comma-separated; with both, the r of the tiles' map to the boxes'")
    ap.add_argument("--json", help="write the machine-readable record here")
    ap.add_argument("--verbose", action="store_true", help="show the command's own messages")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    mach = machine(args.device)
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.ckpt:
            ckpt, weights = args.ckpt, "trained checkpoint " + str(args.ckpt)
        else:
            overrides = [f"generator.params.widths=[{args.widths}]"] if args.widths else []
            ckpt, params = random_checkpoint(folder, overrides=overrides)
            width = f"generator widths {args.widths}" if args.widths else "paper-width generator"
            weights = f"{width} ({params:,} parameters), random weights: timing only"
        print(f"device {args.device}, {torch.get_num_threads()} CPU threads; {weights}")
        print(f"{'case':<6}{'residues':>9}{'map (z,y,x)':>17}{'boxes':>11}{'load':>7}{'read':>7}{'sim':>7}"
              f"{'infer':>9}{'write':>7}{'total s':>9}{'s/res':>9}{'paper':>21}{'ratio':>8}")
        for case in args.cases:
            path = build_case(case, folder)
            if path is None:
                print(f"{case:<6} skipped: its structures are not in ../shared/data")
                continue
            for mode in args.modes.split(","):
                try:
                    r = run_case(case, path, ckpt, args, folder, mode)
                except SystemExit as err:  # e.g. tiles of a normalising network that do not fit memory
                    print(f"{case:<6} {mode}: {err}", flush=True)
                    notes.append(f"{case} ({mode}): not run: {err} (tiles of a generator with instance norm "
                                 "must hold the whole map, which has to fit half the free memory).")
                    continue
                if mode == "tiles" and (folder / f"{case}-boxes.mrc").exists() and not args.max_windows:
                    from emgan_core.io import read_map

                    a, b = read_map(folder / f"{case}-boxes.mrc").data, read_map(r["output"]).data
                    r["r_boxes"] = float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
                    notes.append(f"{case}: the tiles' map correlates with the boxes' map at r = {r['r_boxes']:.4f}.")
                mark = "*" if r["extrapolated"] else ""
                boxes = f"{r['windows']}/{r['windows_with_density']}"
                print(f"{case:<6}{r['residues']:>9,}{str(r['shape']):>17}{boxes:>11}{r['load']:>7.2f}"
                      f"{r['read']:>7.2f}{r['simulate']:>7.2f}{r['inference']:>8.1f}{mark:1}{r['write']:>7.2f}"
                      f"{r['total']:>9.1f}{r['s_per_residue']:>9.4f}{r['paper']:>21}{r['ratio']:>8.1f}", flush=True)
                rows.append([f"{case} ({mode})", r["residues"], "×".join(map(str, r["shape"])), r["windows"],
                             r["windows_with_density"], round(r["per_window"], 3), round(r["inference_skip_empty"], 1),
                             round(r["read"], 3), round(r["simulate"], 3),
                             round(r["inference"], 2) if not r["extrapolated"] else f"{r['inference']:.1f} (extrapolated "
                             f"from {r['windows_run']} boxes)", round(r["write"], 3), round(r["total"], 2),
                             round(r["s_per_residue"], 5), r["paper"], round(r["ratio"], 2)])
    print("boxes: all / with density (the rest have an all-zero input); * inference extrapolated from the "
          "boxes that ran")
    print("total = read + simulate + inference + write (model loading shown apart); ratio = emgan s/residue "
          "÷ paper s/residue at the nearest paper size (> 1: emgan slower)")
    notes.append(f"{weights}. Device {args.device}; the paper's figures are on one A100 GPU.")
    notes.append("ratio = emgan seconds per residue ÷ the paper's seconds per residue at its nearest size; "
                 "> 1 means emgan is slower.")
    if args.max_windows:
        notes.append(f"Inference marked 'extrapolated' ran the generator on {args.max_windows} boxes and scaled "
                     "its forward time to all boxes; read, simulate and write are measured in full.")
    write_record(args.json, {
        "benchmark": "struc2mapgan-generate",
        "title": "struc2mapGAN generation (emgan struc2mapgan generate), stage by stage",
        "peer": "struc2mapGAN paper, one A100 (14 s / 644 res, 20 s / 2,501 res, 53 s / 12,868 res)",
        "columns": ["case", "residues", "map (z×y×x)", "32³ boxes", "boxes with density", "s / box",
                    "inference s if empty boxes were skipped", "read s", "simulate s", "inference s",
                    "write s", "total s", "s / residue", "paper (A100)", "emgan / paper (s/res)"],
        "rows": rows,
        "headline": [{"label": f"{r[0]} ({r[1]:,} res): emgan s/res ÷ paper A100 s/res", "ratio": r[-1]}
                     for r in rows],
        "notes": notes,
    }, mach)


if __name__ == "__main__":
    main()
