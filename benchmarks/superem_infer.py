"""SuperEM whole-map enhancement on CPU: the original EM-GAN inference algorithm, run as its users run
it, against emgan's modes, measured in one run on the same prepared map.

The original algorithm, re-implemented here as the published pipeline runs it (data_prep/HLmapData
with ``-w 12 -s 4``, test.py, MergeMap): 25³ windows on a stride-4 grid, kept where the window's centre
voxel is above the contour, fed through the generator by test.py's DataLoader in batches of
``--original-batch`` windows (8 by default; the strongest of the batch sizes tried is the baseline:
``--original-batch 8,32``), fp32 in the default memory layout, outputs merged by plain averaging.
emgan's modes run the same network through ``emgan_superem.task.enhance``:

* ``paper``  — the same grid, window rule and merge, windows batched, channels-last 3D memory;
* ``fast``   — stride 6, same window rule and merge (about 3.4× fewer windows);
* ``nonempty`` (optional) — stride 4 with every window that holds density (the paper's "valid cube");
* ``paper-bf16``, ``fast-bf16`` — the same under bfloat16 autocast (``--bf16``);
* ``tiles`` — the network once over the whole map (each voxel computed once): not the
  function the network learned on zero-padded 25³ cubes (its dilated convolutions reach past a cube),
  so its correlation with paper mode says what window averaging changes.

Both sides get the same input: the map resampled to 1 Å, zeroed below the contour (default: the level
enclosing the model's molecular volume at 1.21 Å³/Da), scaled to [0, 1]. Preparation is timed apart.
Printed: windows, seconds, speed-up over the original, and the Pearson correlation of each output with
the original's and with emgan's paper-mode output (all voxels, and voxels above the contour).

    python benchmarks/superem_infer.py --weights ../shared/data/pretrained/emgan_G_model
    python benchmarks/superem_infer.py --weights ... --map ../shared/data/pairs/EMD-3488/emd_3488.mrc \\
        --model ../shared/data/pairs/EMD-3488/5me2.pdb --box 60

The default (the bundled EMD-2566 cut-out, 62×69×46 voxels at 1 Å: 262 windows for the original and
paper mode, 36 for fast) takes a few minutes on 2 idle cores; --box and --map take larger maps.
Without --weights the published structure runs with random weights (timing only).
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

from emgan_core.api import EvalSettings, PatchInferer  # noqa: E402
from emgan_core.io import read_map, read_structure  # noqa: E402
from emgan_superem.networks import SRResNet3D  # noqa: E402
from emgan_superem.prepare import model_volume_contour, pad_for_cubes, prepare_input  # noqa: E402
from emgan_superem.task import FAST, enhance  # noqa: E402
from emgan_superem.weights import load_published_state, translate  # noqa: E402

CUBE, STRIDE = 25, 4


@torch.no_grad()
def original(net: torch.nn.Module, data: np.ndarray, batch: int = 8) -> tuple[np.ndarray, int]:
    """The published inference: stride-4 windows whose centre voxel is above the contour (non-zero
    after thresholding), through the network ``batch`` windows at a time (test.py's DataLoader),
    fp32 in the default layout, plain averaging."""
    net = net.to(memory_format=torch.contiguous_format).eval()
    padded = pad_for_cubes(data, CUBE, STRIDE)
    total = np.zeros(padded.shape, np.float64)
    count = np.zeros(padded.shape, np.float64)
    h = CUBE // 2
    starts = [(z, y, x) for z in range(0, padded.shape[0] - CUBE + 1, STRIDE)
              for y in range(0, padded.shape[1] - CUBE + 1, STRIDE)
              for x in range(0, padded.shape[2] - CUBE + 1, STRIDE) if padded[z + h, y + h, x + h] > 0]
    for i in range(0, len(starts), batch):
        group = starts[i:i + batch]
        cubes = np.stack([padded[z:z + CUBE, y:y + CUBE, x:x + CUBE] for z, y, x in group])
        out = net(torch.from_numpy(cubes)[:, None])[:, 0].numpy()
        for (z, y, x), o in zip(group, out):
            total[z:z + CUBE, y:y + CUBE, x:x + CUBE] += o
            count[z:z + CUBE, y:y + CUBE, x:x + CUBE] += 1
    merged = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return merged[:data.shape[0], :data.shape[1], :data.shape[2]].astype(np.float32), len(starts)


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
    ap.add_argument("--modes", default="paper,fast,paper-bf16,fast-bf16,tiles",
                    help="emgan modes: paper, fast, nonempty, tiles, paper-bf16, fast-bf16")
    ap.add_argument("--original-batch", default="8", help="batch sizes of the original's DataLoader to try "
                    "(comma-separated); the fastest is the baseline")
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
    enhance(net, data[:CUBE, :CUBE, :CUBE].copy(), EvalSettings(window=CUBE, blend="average", window_stride=CUBE))  # warm-up (oneDNN kernels)

    print(f"{'mode':<22}{'windows':>8}{'seconds':>9}{'speed-up':>10}{'r orig':>9}{'r paper':>9}{'r paper >contour':>18}")
    tried = []
    for b in [int(v) for v in args.original_batch.split(",")]:
        t0 = time.perf_counter()
        ref, n_ref = original(net, data, b)
        tried.append((time.perf_counter() - t0, b, ref))
        print(f"{f'original, batch {b}':<22}{n_ref:>8}{tried[-1][0]:>9.1f}", flush=True)
    t_ref, best_batch, ref = min(tried, key=lambda r: r[0])
    rows = [[f"original (batches of {b}, fp32, centre rule, stride 4)", n_ref, round(s, 2), round(t_ref / s, 2),
             1.0 if b == best_batch else round(corr(o, ref), 4), None, None] for s, b, o in tried]
    paper = EvalSettings(window=CUBE, blend="average", window_stride=STRIDE, windows="centre", batch_size=args.batch_size)
    settings = {"paper": paper, "fast": paper.replace(**FAST), "nonempty": paper.replace(windows="nonempty"),
                "tiles": paper.replace(blend="tiles"), "paper-bf16": paper.replace(precision="bf16"),
                "fast-bf16": paper.replace(precision="bf16", **FAST)}
    outputs, headline = {}, []
    for mode in args.modes.split(","):
        s = settings[mode]
        n = 1 if s.blend == "tiles" else PatchInferer.from_settings(s).count(data[None])
        t0 = time.perf_counter()
        out = enhance(net, data, s)
        sec = time.perf_counter() - t0
        outputs[mode] = out
        paper = outputs.get("paper")
        r_paper = corr(out, paper) if paper is not None else float("nan")
        r_in = corr(out, paper, inside) if paper is not None else float("nan")
        print(f"{mode:<22}{n:>8}{sec:>9.1f}{t_ref / sec:>9.1f}×{corr(out, ref):>9.4f}{r_paper:>9.4f}{r_in:>18.4f}",
              flush=True)
        what = "the whole map at once" if s.blend == "tiles" else f"stride {s.window_stride}, {s.windows} rule, {s.blend}"
        what += ", bf16" if s.precision == "bf16" else ""
        rows.append([f"emgan {mode} ({what})", n, round(sec, 2),
                     round(t_ref / sec, 2), round(corr(out, ref), 4), round(r_paper, 4), round(r_in, 4)])
        headline.append({"label": f"emgan {mode} vs the original EM-GAN inference batched by {best_batch}: speed-up "
                                  f"(r {r_paper:.3f} to paper mode)", "ratio": round(t_ref / sec, 2)})
    write_record(args.json, {
        "benchmark": "superem-infer",
        "title": "SuperEM whole-map enhancement on CPU: emgan modes vs the original EM-GAN inference",
        "peer": f"original EM-GAN inference re-implemented as test.py runs it (centre-voxel window rule, stride 4, "
                f"DataLoader batches of {best_batch}, fp32, plain averaging)",
        "columns": ["run", "windows", "seconds", "speed-up", "r vs original", "r vs emgan paper",
                    "r vs paper (voxels above contour)"],
        "rows": rows, "headline": headline,
        "notes": [f"map {args.map}, {data.shape} voxels at 1 Å, contour {contour}, preparation {prep:.1f} s "
                  f"(same for all, not in the times); weights {'published' if args.weights else 'random'}."],
    }, mach)


if __name__ == "__main__":
    main()
