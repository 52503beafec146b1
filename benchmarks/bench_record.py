"""Machine-readable benchmark records, collected by ``benchmarks/report_page.py``.

Every benchmark script takes ``--json PATH`` and writes one record there (atomically):

    {"benchmark": "gaussian-simulation", "title": "...", "peer": "gemmi DensityCalculatorE",
     "columns": [...], "rows": [[...], ...], "headline": [{"label": ..., "ratio": ...}],
     "notes": ["..."], "command": "...", "machine": {...}, "date": "2026-...Z"}

``rows`` hold plain numbers and strings; ``headline`` lists the ratios worth quoting (emgan vs
the peer, > 1 meaning emgan is faster unless ``notes`` says otherwise). Absolute seconds are only
meaningful with ``machine`` (CPU model, cores, load average at the start and end of the run).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine(device: str = "cpu") -> dict:
    """CPU model, usable cores, torch threads, versions, the GPU when ``device`` is CUDA, load."""
    import torch

    info = {
        "cpu": _cpu_model(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "os": f"{platform.system()} {platform.release()}",
        "device": device,
        "load_start": _load(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def write_record(path: str | os.PathLike | None, record: dict, mach: dict) -> None:
    """Add machine, date, command line and the end-of-run load to ``record``; write it as JSON."""
    if not path:
        return
    mach = dict(mach, load_end=_load())
    full = {**record, "machine": mach, "date": now(),
            "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(full, indent=1) + "\n")
    os.replace(tmp, path)
