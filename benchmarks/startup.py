"""Start-up time of the README's commands against `python -c "import torch"`, measured in one run.

Each command is run ``--repeat`` times in a fresh interpreter; the median wall time is printed with
the ratio to importing torch (the floor of any command that trains or infers).

    python benchmarks/startup.py [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_record import machine, write_record  # noqa: E402

COMMANDS = {
    "emgan --help": ["-m", "emgan_core.cli.main", "--help"],
    "emgan plugins": ["-m", "emgan_core.cli.main", "plugins"],
    "emgan recipes": ["-m", "emgan_core.cli.main", "recipes"],
    "emgan validate superem-quickstart": ["-m", "emgan_core.cli.main", "validate", "superem-quickstart"],
    'python -c "import torch"': ["-c", "import torch"],
}


def median_seconds(args: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t0)
        if proc.returncode:
            raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()
    mach = machine()
    seconds = {name: median_seconds(cmd, args.repeat) for name, cmd in COMMANDS.items()}
    torch_s = seconds['python -c "import torch"']
    print(f"{'command':<42} {'median s':>9} {'/ import torch':>15}")
    for name, s in seconds.items():
        print(f"{name:<42} {s:9.3f} {s / torch_s:15.2f}")
    write_record(args.json, {
        "benchmark": "startup", "title": "Start-up of the README's commands", "peer": 'python -c "import torch"',
        "columns": ["command", "median s", "÷ import torch"],
        "rows": [[name, round(s, 3), round(s / torch_s, 3)] for name, s in seconds.items()],
        "headline": [{"label": "emgan --help vs import torch", "ratio": round(torch_s / seconds["emgan --help"], 2)}],
        "notes": [f"median of {args.repeat} fresh interpreters each; listing commands import no plugin code or torch"],
    }, mach)
    return 0


if __name__ == "__main__":
    sys.exit(main())
