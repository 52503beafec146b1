"""Start-up time of the README's commands against `python -c "import torch"`, measured in one run.

Each command is run ``--repeat`` times in a fresh interpreter; the median wall time is printed with
the ratio to importing torch (the floor of any command that trains or infers).

    python benchmarks/startup.py [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "emgan --help": ["-m", "emgan_core.cli.main", "--help"],
    "emgan plugins": ["-m", "emgan_core.cli.main", "plugins"],
    "emgan recipes": ["-m", "emgan_core.cli.main", "recipes"],
    "emgan validate struc2mapgan-quickstart": ["-m", "emgan_core.cli.main", "validate", "struc2mapgan-quickstart"],
    'python -c "import torch"': ["-c", "import torch"],
}


def median_seconds(args: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, *args], capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()
    seconds = {name: median_seconds(cmd, args.repeat) for name, cmd in COMMANDS.items()}
    torch_s = seconds['python -c "import torch"']
    print(f"{'command':<42} {'median s':>9} {'/ import torch':>15}")
    for name, s in seconds.items():
        print(f"{name:<42} {s:9.3f} {s / torch_s:15.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "startup", "seconds": seconds, "repeat": args.repeat}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
