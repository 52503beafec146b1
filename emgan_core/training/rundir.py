"""A run directory: everything needed to resume, reproduce and inspect a training run.

    RUN/recipe.yaml        the resolved recipe (overrides applied)
    RUN/environment.json   emgan, plugin and torch versions, git commit, seed, device, command line
    RUN/train.log          the log
    RUN/scalars.jsonl      one JSON line of losses and learning rates per logged step
    RUN/events/            TensorBoard scalars and image summaries
    RUN/checkpoints/       step-NNNNNNN.pt and last.pt
    RUN/metrics.json       validation results per validation step, and the final ones
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path

import yaml

from ..io.atomic import atomic_output


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def create(self) -> "RunDir":
        (self.path / "checkpoints").mkdir(parents=True, exist_ok=True)
        (self.path / "events").mkdir(exist_ok=True)
        return self

    @property
    def recipe(self) -> Path:
        return self.path / "recipe.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def write_text(self, name: str, text: str) -> None:
        with atomic_output(self.path / name) as tmp:
            tmp.write_text(text)

    def write_recipe(self, data: dict) -> None:
        self.write_text("recipe.yaml", yaml.safe_dump(data, sort_keys=False))

    def write_json(self, name: str, data) -> None:
        self.write_text(name, json.dumps(data, indent=2, default=float) + "\n")

    def read_json(self, name: str, default=None):
        p = self.path / name
        return json.loads(p.read_text()) if p.exists() else default

    def write_environment(self, seed: int, device: str, plugins: dict) -> None:
        import torch

        from ..version import __version__

        self.write_json("environment.json", {
            "emgan_version": __version__,
            "plugins": {name: {"distribution": d, "version": v} for name, (d, v) in plugins.items()},
            "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
            "platform": platform.platform(), "git_commit": git_commit(), "seed": seed, "device": device,
            "command": sys.argv, "cwd": os.getcwd(),
        })

    def append_scalars(self, record: dict) -> None:
        with open(self.path / "scalars.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def truncate_scalars(self, last_step: int) -> None:
        """Drop logged steps after ``last_step`` (a resumed run logs them again)."""
        p = self.path / "scalars.jsonl"
        if p.exists():
            keep = [ln for ln in p.read_text().splitlines() if ln and json.loads(ln)["step"] <= last_step]
            self.write_text("scalars.jsonl", "".join(k + "\n" for k in keep))

    def logger(self, enabled: bool, console: bool = True) -> logging.Logger:
        """The run's logger: train.log and stderr (above a progress bar when not ``console``);
        silent on other ranks."""
        log = logging.getLogger(f"emgan.run.{self.path}")
        log.setLevel(logging.INFO)
        log.propagate = False
        log.handlers.clear()
        if not enabled:
            log.addHandler(logging.NullHandler())
            return log
        fh = logging.FileHandler(self.path / "train.log")
        fh.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(fh)
        sh = logging.StreamHandler(sys.stderr) if console else _ProgressBarHandler()
        sh.setFormatter(logging.Formatter("%(message)s"))
        if not console:  # the progress bar already shows per-step losses
            sh.addFilter(lambda record: not getattr(record, "step_line", False))
        log.addHandler(sh)
        return log


class _ProgressBarHandler(logging.Handler):
    """Writes above a tqdm progress bar instead of through it."""

    def emit(self, record):
        from tqdm import tqdm

        tqdm.write(self.format(record), file=sys.stderr)


def git_commit() -> str | None:
    """The commit of the current folder's git checkout, if any."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None
