"""Many inputs as Dask tasks: throughput of ``emgan infer`` over a folder with 1 and 2 workers.

Makes ``--count`` inputs (default 50): rigid-body copies of bundled atomic models (the EMRinger
fragment and ubiquitin by default), each turned by a random rotation about its centre and moved by
a random shift of up to 20 Å (seeded), written to a temporary folder. Then, in one run, the shipped
struc2mapgan-small model makes a map of every input with each ``--workers`` count in turn (1: in
this process; N: a local Dask cluster of N processes, started inside the timed call as a user's
command starts it), and the script prints the inputs per second of each, the speed-up over one
worker, and whether every output map is the same, voxel for voxel, whatever the worker count. A
last call over the finished folder shows what a resumed run costs when everything is up to date
(hashing inputs and outputs, no inference).

Every task runs torch with ``--threads`` threads (default 1), as ``emgan infer --threads`` does:
one worker per core is the like-for-like comparison, and the maps are then the same voxel for voxel.

    python benchmarks/many_inputs.py [--count 50] [--workers 1 2] [--resolution 3.5] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import gemmi
import mrcfile
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_record import machine, write_record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"


def make_inputs(sources: list[Path], count: int, folder: Path, seed: int = 0) -> list[Path]:
    """``count`` rigid-body copies of ``sources`` (in turn): rotated about their centre by a random
    rotation and shifted by up to 20 Å."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    made = []
    for k in range(count):
        source = sources[k % len(sources)]
        st = gemmi.read_structure(str(source))
        st.remove_ligands_and_waters()
        atoms = [a for model in st for chain in model for res in chain for a in res]
        xyz = np.array([[a.pos.x, a.pos.y, a.pos.z] for a in atoms])
        centre = xyz.mean(0)
        turned = Rotation.random(random_state=rng).apply(xyz - centre) + centre + rng.uniform(-20, 20, 3)
        for atom, (x, y, z) in zip(atoms, turned):
            atom.pos = gemmi.Position(x, y, z)
        path = folder / f"{source.stem}_{k:03d}.pdb"
        st.write_pdb(str(path))
        made.append(path)
    return made


def maps(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for path in sorted(folder.glob("*.mrc")):
        with mrcfile.open(path) as m:
            out[path.name] = m.data.copy()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=50, help="inputs to make (50)")
    ap.add_argument("--sources", nargs="+", default=["emringerweb_test_model.pdb", "1ubq.pdb"],
                    help="bundled models (examples/data) to copy")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time (1 2)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per task (1)")
    ap.add_argument("--resolution", type=float, default=3.5, help="Å (3.5)")
    ap.add_argument("--model", default="struc2mapgan-small")
    ap.add_argument("--json", help="write the machine-readable record here")
    args = ap.parse_args()
    os.environ.setdefault("EMGAN_PROGRESS", "0")
    from emgan_core.many import infer_many

    mach = machine("cpu")
    rows, outputs = [], {}
    with tempfile.TemporaryDirectory(prefix="emgan-many-") as tmp:
        tmp = Path(tmp)
        (tmp / "inputs").mkdir()
        inputs = make_inputs([DATA / s for s in args.sources], args.count, tmp / "inputs")
        print(f"{len(inputs)} inputs (copies of {', '.join(args.sources)}), {args.model} at {args.resolution:g} Å, "
              f"{args.threads} torch thread(s) per task, {mach['cores']} cores")
        print(f"{'workers':>8}{'inputs':>8}{'seconds':>10}{'inputs/s':>10}{'speed-up':>10}")
        for workers in args.workers:
            out = tmp / f"out-{workers}"
            t0 = time.perf_counter()
            report = infer_many(args.model, [tmp / "inputs"], out, workers=workers, threads=args.threads,
                                resolution=args.resolution, device="cpu")
            seconds = time.perf_counter() - t0
            assert len(report.written) == len(inputs), report
            outputs[workers] = maps(out)
            rate = len(inputs) / seconds
            speedup = rate / rows[0][3] if rows else 1.0
            rows.append([workers, len(inputs), round(seconds, 2), round(rate, 3), round(speedup, 2)])
            print(f"{workers:>8}{len(inputs):>8}{seconds:>10.1f}{rate:>10.3f}{speedup:>10.2f}", flush=True)
        first = outputs[args.workers[0]]
        identical = all(first.keys() == o.keys() and all(np.array_equal(first[k], o[k]) for k in first)
                        for o in outputs.values())
        t0 = time.perf_counter()
        again = infer_many(args.model, [tmp / "inputs"], tmp / f"out-{args.workers[-1]}", workers=args.workers[-1],
                           threads=args.threads, resolution=args.resolution, device="cpu")
        resumed = time.perf_counter() - t0
    print(f"outputs identical across worker counts: {'yes' if identical else 'NO'}")
    print(f"resumed run over the finished folder: {len(again.skipped)} up to date, {len(again.written)} redone, "
          f"{resumed:.1f} s")
    write_record(args.json, {
        "benchmark": "many-inputs",
        "title": "emgan infer over many inputs: Dask workers (one task per input)",
        "peer": "the same command with 1 worker (in-process, no cluster)",
        "columns": ["workers", "inputs", "seconds", "inputs/s", "throughput vs 1 worker"],
        "rows": rows,
        "headline": [{"label": f"{r[0]} workers vs 1: inputs/s ratio", "ratio": r[4]} for r in rows[1:]],
        "notes": [(f"{len(inputs)} rigid-body copies of {', '.join(args.sources)}; {args.model} at "
                   f"{args.resolution:g} Å on the CPU, {args.threads} torch thread(s) per task; seconds are the "
                   "whole call, a local cluster's start and its workers' model loading included."),
                  f"every output map the same voxel for voxel with each worker count: {'yes' if identical else 'no'}.",
                  (f"a resumed run over the finished folder: {len(again.skipped)} up to date, "
                   f"{len(again.written)} redone, {resumed:.1f} s.")],
    }, mach)
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()
