"""A run directory: everything needed to resume, reproduce and inspect a training run.

    RUN/recipe.yaml        the resolved recipe (overrides applied)
    RUN/environment.json   emgan, plugin and torch versions, git commit, seed, device, command line
    RUN/train.log          the log
    RUN/scalars.jsonl      one JSON line of losses and learning rates per logged step
    RUN/events/            TensorBoard scalars and image summaries
    RUN/checkpoints/       step-NNNNNNN.pt and last.pt
    RUN/metrics.json       validation results per validation step, and the final ones
    RUN/.emgan-lock        the lock a training process holds for the run's life (its PID inside)
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

from ..errors import EmganError
from ..io.atomic import atomic_output, remove_stale_temporaries, try_lock

LOCK_NAME = ".emgan-lock"


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock_fd: int | None = None

    def lock(self) -> "RunDir":
        """Take the run directory for this process: an exclusive OS lock on ``RUN/.emgan-lock``,
        held until :meth:`unlock` or the process ends (a killed process releases it). A second
        process gets a one-line error naming the holder's PID. Then remove the temporary files a
        killed process may have left mid-write."""
        if self._lock_fd is not None:
            return self
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try_lock(fd)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise EmganError(f"run directory is in use by process {holder} (another emgan run or --resume): "
                             "wait for it to finish, or choose another -o", str(self.path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._lock_fd = fd
        for folder in (self.path, self.checkpoints):
            if folder.is_dir():
                remove_stale_temporaries(folder)
        return self

    def ensure_new(self) -> "RunDir":
        """Refuse, in one line, a folder that holds a run or is being trained into (a new run must
        not mix with it): call before any work; the lock taken when the run starts closes races."""
        if self._lock_fd is None and (self.path / LOCK_NAME).exists():
            self.lock().unlock()  # raises, naming the holder, while another process trains here
        if self.recipe.exists():
            raise EmganError("run directory already holds a run: continue it with --resume, or choose "
                             "another -o", str(self.path))
        return self

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the lock
            self._lock_fd = None

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
        with atomic_output(self.path / name, replace=True) as tmp:
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
