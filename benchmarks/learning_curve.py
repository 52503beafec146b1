"""Held-out learning curve of a training run: a benchmark's metrics for every k-th checkpoint.

Runs the benchmark YAML once per checkpoint of RUN (the method whose ``checkpoint`` is the word
``RUN`` is pointed at each checkpoint in turn; every other method, a baseline or a control, is
scored once), and writes a CSV and a PNG (one panel per metric, one line per input, the baselines
as dashed lines of the same colour):

    python benchmarks/learning_curve.py benchmarks/struc2mapgan/heldout.yaml runs/s2m --every 4 \\
        --baseline molmap-own -o out/curve

The checkpoints are those the run kept (``step-NNNNNNN.pt``); the curve is what a held-out set says
of each, not a way to pick one (the shipped checkpoint is the run's last, decided before).
"""

from __future__ import annotations

import argparse
import csv
import copy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def checkpoints(run: Path, every: int) -> list[Path]:
    steps = sorted((run / "checkpoints").glob("step-*.pt"), key=lambda p: int(p.stem.split("-")[1]))
    if not steps:
        raise SystemExit(f"learning_curve: {run} has no step-*.pt checkpoints")
    picked = steps[::every]
    return picked if picked[-1] == steps[-1] else picked + [steps[-1]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("benchmark", help="benchmark YAML with one method whose checkpoint is RUN")
    ap.add_argument("run", type=Path, help="run directory")
    ap.add_argument("--every", type=int, default=1, help="every k-th checkpoint (and the last)")
    ap.add_argument("--baseline", action="append", default=[], help="method label drawn as a dashed line")
    ap.add_argument("--metrics", default="cam,pcc_p90,ssim_p90", help="value names to plot")
    ap.add_argument("--mark", type=int, help="draw a vertical line at this step (the checkpoint shipped)")
    ap.add_argument("--replot", action="store_true", help="redraw curve.png from the folder's curve.csv")
    ap.add_argument("-o", "--out", type=Path, required=True, help="folder for curve.csv and curve.png")
    args = ap.parse_args(argv)
    if args.replot:
        learner = _learner_label(args.benchmark)
        with open(args.out / "curve.csv", newline="") as f:
            rows = [{k: (float(v) if k not in ("method", "input") and v != "" else v) for k, v in r.items()}
                    for r in csv.DictReader(f)]
        plot(rows, args.metrics.split(","), learner, args.baseline, args.out / "curve.png", args.mark)
        return 0

    import tempfile

    import yaml

    from emgan_core.bench import load_benchmark, run_benchmark
    from emgan_core.io.atomic import atomic_output

    steps = checkpoints(args.run, args.every)
    raw = yaml.safe_load(Path(args.benchmark).read_text())
    marked = [i for i, m in enumerate(raw.get("methods") or []) if str(m.get("checkpoint")) == "RUN"]
    if len(marked) != 1:
        raise SystemExit("learning_curve: the benchmark needs exactly one method with 'checkpoint: RUN'")
    raw["methods"][marked[0]]["checkpoint"] = str(steps[0])  # validated with a real file, replaced below
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=Path(args.benchmark).parent) as tmp:
        tmp.write(yaml.safe_dump(raw))
        tmp.flush()
        bench = load_benchmark(tmp.name)
    learner = [bench.methods[marked[0]]]
    others = [m for m in bench.methods if m is not learner[0]]
    rows = []
    fixed = copy.copy(bench)
    fixed.methods = others
    for r in run_benchmark(fixed):
        rows.append({"step": "", "method": r.method, "input": r.input, **r.values})
    for ckpt in steps:
        one = copy.copy(bench)
        one.methods = [{**learner[0], "checkpoint": str(ckpt)}]
        step = int(ckpt.stem.split("-")[1])
        scored = run_benchmark(one)
        rows += [{"step": step, "method": r.method, "input": r.input, **r.values} for r in scored]
        print(f"step {step}: " + "; ".join(f"{r.input} " + " ".join(
            f"{k}={r.values[k]:.3f}" for k in args.metrics.split(",") if k in r.values) for r in scored),
            file=sys.stderr, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    names = sorted({k for r in rows for k in r} - {"step", "method", "input"})
    with atomic_output(args.out / "curve.csv", overwrite=True) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["step", "method", "input", *names])
        w.writeheader()
        w.writerows(rows)
    plot(rows, args.metrics.split(","), learner[0]["label"], args.baseline, args.out / "curve.png", args.mark)
    print(f"wrote {args.out / 'curve.csv'} and {args.out / 'curve.png'}", file=sys.stderr)
    return 0


def _learner_label(benchmark: str) -> str:
    import yaml

    methods = yaml.safe_load(Path(benchmark).read_text()).get("methods") or []
    return next(m.get("label", "RUN") for m in methods if str(m.get("checkpoint")) == "RUN")


def plot(rows: list[dict], metrics: list[str], learner: str, baselines: list[str], path: Path,
         mark: int | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emgan_core.io.atomic import atomic_output

    inputs = sorted({r["input"] for r in rows})
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for i, name in enumerate(inputs):
            colour = f"C{i}"
            curve = sorted((r["step"], r[metric]) for r in rows if r["method"] == learner and r["input"] == name
                           and metric in r)
            if curve:
                ax.plot(*zip(*curve), color=colour, marker=".", label=name)
            for j, base in enumerate(baselines):
                value = next((r[metric] for r in rows if r["method"] == base and r["input"] == name and metric in r),
                             None)
                if value is not None:
                    ax.axhline(value, color=colour, linestyle=("--", ":", "-.")[j % 3], linewidth=1)
        if mark is not None:
            ax.axvline(mark, color="black", linewidth=0.8, alpha=0.5)
        ax.set_title(metric + ("  (dashed: " + ", ".join(baselines) + ")" if baselines else ""), fontsize=9)
        ax.set_xlabel("training step")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_output(path, overwrite=True) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
