"""SuperEM whole-map enhancement on CPU: the original EM-GAN inference algorithm against emgan's modes,
measured in one run on the same prepared map.

The original algorithm, re-implemented here as the published pipeline runs it (data_prep/HLmapData
with ``-w 12 -s 4``, test.py, MergeMap): 25³ windows on a stride-4 grid, kept where the window's centre
voxel is above the contour, each window through the generator on its own (batch of one, fp32, the
default memory layout), outputs merged by plain averaging. emgan's modes run the same network through
``emgan_superem.task.enhance``:

* ``paper``  — the same grid, window rule and merge, windows batched, channels-last 3D memory;
* ``fast``   — stride 6, same window rule and merge (about 3.4× fewer windows);
* ``nonempty`` (optional) — stride 4 with every window that holds density (the paper's "valid cube").

Both sides get the same input: the map resampled to 1 Å, zeroed below the contour (default: the level
enclosing the model's molecular volume at 1.21 Å³/Da), scaled to [0, 1]. Preparation is timed apart.
Printed: windows, seconds, speed-up over the original, and the Pearson correlation of each output with
the original's and with emgan's paper-mode output (all voxels, and voxels above the contour).

    python benchmarks/superem_infer.py --weights ../shared/data/pretrained/emgan_G_model
    python benchmarks/superem_infer.py --weights ... --map ../shared/data/pairs/EMD-3488/emd_3488.mrc \\
        --model ../shared/data/pairs/EMD-3488/5me2.pdb --box 60

The default (the bundled EMD-2566 cut-out, 62×69×46 voxels at 1 Å: 262 windows for the original and
paper mode, 36 for fast) takes a few minutes on 2 idle cores, most of it the original's single-window
passes; --box and --map take larger maps. Without --weights the published structure runs with random weights (timing only).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_record import machine, write_record  # noqa: E402

from emgan_core.inferers import PatchInferer  # noqa: E402
from emgan_core.io import read_map, read_structure  # noqa: E402
from emgan_superem.networks import SRResNet3D  # noqa: E402
from emgan_superem.prepare import model_volume_contour, pad_for_cubes, prepare_input  # noqa: E402
from emgan_superem.task import FAST, enhance  # noqa: E402
from emgan_superem.weights import load_published_state, translate  # noqa: E402

CUBE, STRIDE = 25, 4


@torch.no_grad()
def original(net: torch.nn.Module, data: np.ndarray) -> tuple[np.ndarray, int]:
    """The published inference: stride-4 windows whose centre voxel is above the contour (non-zero
    after thresholding), one fp32 forward per window in the default layout, plain averaging."""
    net = net.to(memory_format=torch.contiguous_format).eval()
    padded = pad_for_cubes(data, CUBE, STRIDE)
    total = np.zeros(padded.shape, np.float64)
    count = np.zeros(padded.shape, np.float64)
    h = CUBE // 2
    windows = 0
    for z in range(0, padded.shape[0] - CUBE + 1, STRIDE):
        for y in range(0, padded.shape[1] - CUBE + 1, STRIDE):
            for x in range(0, padded.shape[2] - CUBE + 1, STRIDE):
                if padded[z + h, y + h, x + h] <= 0:
                    continue
                cube = torch.from_numpy(np.ascontiguousarray(padded[z:z + CUBE, y:y + CUBE, x:x + CUBE]))
                out = net(cube[None, None])[0, 0].numpy()
                total[z:z + CUBE, y:y + CUBE, x:x + CUBE] += out
                count[z:z + CUBE, y:y + CUBE, x:x + CUBE] += 1
                windows += 1
    merged = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return merged[:data.shape[0], :data.shape[1], :data.shape[2]].astype(np.float32), windows


def corr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    if mask is not None:
        a, b = a[mask], b[mask]
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--map", default="examples/data/emd2566_3J6B_chain9.mrc")
    ap.add_argument("--model", default="examples/data/3J6B_chain9.pdb",
                    help="model for the contour (level enclosing its molecular volume); 'none': no contour")
    ap.add_argument("--contour", type=float, help="contour in map units (instead of the model's)")
    ap.add_argument("--box", type=int, help="crop the prepared map to this edge (voxels, 1 Å) around its centre")
    ap.add_argument("--weights", help="published EM-GAN G_model (default: random weights)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--modes", default="paper,fast", help="emgan modes: paper, fast, nonempty")
    ap.add_argument("--json", help="write the machine-readable record here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    mach = machine("cpu")
    torch.manual_seed(0)
    net = SRResNet3D()
    if args.weights:
        net.load_state_dict(translate(load_published_state(args.weights)))
    net.eval()

    t0 = time.perf_counter()
    source = read_map(args.map)
    contour = args.contour
    if contour is None and args.model and args.model != "none":
        contour = model_volume_contour(source, read_structure(args.model))
    data = prepare_input(source, 1.0, contour).data
    if args.box:
        c = [max(0, n // 2 - args.box // 2) for n in data.shape]
        data = np.ascontiguousarray(data[c[0]:c[0] + args.box, c[1]:c[1] + args.box, c[2]:c[2] + args.box])
    prep = time.perf_counter() - t0
    inside = data > 0
    print(f"map {args.map}: {data.shape} voxels at 1 Å, contour {contour if contour is None else f'{contour:.4g}'}"
          f" ({100 * inside.mean():.1f} % of voxels above), preparation {prep:.1f} s; {args.threads} threads, "
          f"batch {args.batch_size}, weights {'published' if args.weights else 'random'}", flush=True)
    enhance(net, data[:CUBE, :CUBE, :CUBE].copy(), stride=CUBE, windows="all")  # warm-up (oneDNN kernels)

    t0 = time.perf_counter()
    ref, n_ref = original(net, data)
    t_ref = time.perf_counter() - t0
    rows = [["original (per-window fp32, centre rule, stride 4)", n_ref, round(t_ref, 2), 1.0, 1.0, None, None]]
    print(f"{'mode':<22}{'windows':>8}{'seconds':>9}{'speed-up':>10}{'r orig':>9}{'r paper':>9}{'r paper >contour':>18}")
    print(f"{'original':<22}{n_ref:>8}{t_ref:>9.1f}{1.0:>9.1f}×{1.0:>9.4f}{'':>9}{'':>18}", flush=True)
    settings = {"paper": {"stride": STRIDE, "blend": "average", "windows": "centre"}, "fast": dict(FAST),
                "nonempty": {"stride": STRIDE, "blend": "average", "windows": "nonempty"}}
    outputs, headline = {}, []
    for mode in args.modes.split(","):
        s = settings[mode]
        n = PatchInferer(CUBE, s["blend"], stride=s["stride"], windows=s["windows"]).count(data[None])
        t0 = time.perf_counter()
        out = enhance(net, data, cube=CUBE, batch_size=args.batch_size, **s)
        sec = time.perf_counter() - t0
        outputs[mode] = out
        paper = outputs.get("paper")
        r_paper = corr(out, paper) if paper is not None else float("nan")
        r_in = corr(out, paper, inside) if paper is not None else float("nan")
        print(f"{mode:<22}{n:>8}{sec:>9.1f}{t_ref / sec:>9.1f}×{corr(out, ref):>9.4f}{r_paper:>9.4f}{r_in:>18.4f}",
              flush=True)
        rows.append([f"emgan {mode} (stride {s['stride']}, {s['windows']} rule, {s['blend']})", n, round(sec, 2),
                     round(t_ref / sec, 2), round(corr(out, ref), 4), round(r_paper, 4), round(r_in, 4)])
        headline.append({"label": f"emgan {mode} vs original EM-GAN inference, speed-up (target: paper >= 1, "
                                  f"fast >= 10 with r >= 0.99 to paper)", "ratio": round(t_ref / sec, 2)})
    write_record(args.json, {
        "benchmark": "superem-infer",
        "title": "SuperEM whole-map enhancement on CPU: emgan modes vs the original EM-GAN inference",
        "peer": "original EM-GAN inference re-implemented (centre-voxel window rule, stride 4, per-window fp32 "
                "forward, plain averaging)",
        "columns": ["run", "windows", "seconds", "speed-up", "r vs original", "r vs emgan paper",
                    "r vs paper (voxels above contour)"],
        "rows": rows, "headline": headline,
        "notes": [f"map {args.map}, {data.shape} voxels at 1 Å, contour {contour}, preparation {prep:.1f} s "
                  f"(same for all, not in the times); weights {'published' if args.weights else 'random'}."],
    }, mach)


if __name__ == "__main__":
    main()
