"""Checkpoints: tensors and plain data only, written atomically, loaded with ``weights_only=True``.

Opening a checkpoint someone sent you never runs code: ``torch.load(..., weights_only=True)``
refuses anything but tensors, numbers, strings, lists and dicts.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import torch

from ..errors import EmganError
from .atomic import atomic_output, note_input

FORMAT = "emgan-checkpoint/1"


def rng_state() -> dict:
    """Every random generator the trainer touches, as tensors and plain data."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": [int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [list(v) if isinstance(v, tuple) else v for v in random.getstate()],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    pos, has_gauss, gauss = state["numpy_pos"]
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` (plus the format tag) atomically."""
    payload = {"format": FORMAT, **payload}
    with atomic_output(path, suffix=".tmp", replace=True) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or the newest checkpoint of a run directory."""
    path = Path(path)
    if path.is_dir():
        folder = path / "checkpoints"
        steps = sorted(folder.glob("step-*.pt"), key=lambda p: int(p.stem.split("-")[1]))
        if steps:  # each written atomically: the highest step is the newest complete one
            return steps[-1]
        if (folder / "last.pt").exists():
            return folder / "last.pt"
        raise EmganError("run directory has no checkpoint yet", str(path))
    if not path.exists():
        raise EmganError("checkpoint not found (no such file or run directory, nor an installed model of "
                         "that name: see `emgan models`)", str(path))
    return path


def torch_load_safely(path: str | Path, what: str = "checkpoint"):
    """``torch.load(path, weights_only=True)`` onto the CPU: tensors and plain data only, so that
    opening a file someone sent never runs code. Every failure is one line naming the file; none
    suggests loading it unsafely."""
    path = Path(path)
    if not path.is_file():
        raise EmganError(f"{what} not found", str(path))
    note_input(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise EmganError(f"{what} holds objects other than tensors and plain data; refusing to load it "
                         "(loading it could run code)", str(path)) from None
    except Exception as err:  # noqa: BLE001 - truncated archives and the like
        text = str(err).strip()
        first = text.splitlines()[0] if text else type(err).__name__
        if "weights_only" in first or "Weights only" in first:
            first = type(err).__name__
        raise EmganError(f"corrupt or truncated {what} ({first})", str(path)) from None


def load_checkpoint(path: str | Path) -> dict:
    """Load safely (:func:`torch_load_safely`); errors name the file."""
    path = find_checkpoint(path)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":
        raise EmganError("not a checkpoint file (torch checkpoints are zip archives)", str(path))
    payload = torch_load_safely(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise EmganError(f"not an emgan checkpoint (expected format {FORMAT})", str(path))
    missing = sorted({"step", "components", "inference", "state", "rng"} - set(payload))
    if missing:
        raise EmganError(f"incomplete emgan checkpoint: no {', '.join(missing)}", str(path))
    return payload


def _file_names(value):
    """``value`` (a recipe's data section) with every absolute path reduced to its file name."""
    if isinstance(value, dict):
        return {k: _file_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_file_names(v) for v in value]
    if isinstance(value, str) and Path(value).is_absolute():
        return Path(value).name
    return value


def export_for_inference(source: str | Path, output: str | Path) -> dict:
    """Write the inference part of a checkpoint (or a run directory's newest) to ``output``: the
    networks (the EMA weights when the run kept them), components, inference settings, recipe and
    step; no optimiser, scheduler or random-generator state (a model to ship, a fraction of the
    size). The recipe's data paths keep their file names only: a shipped model names what it was
    trained on, not the trainer's folders. Returns the payload written."""
    ckpt = load_checkpoint(source)
    state = ckpt["state"]
    networks = {**state["networks"], **(state.get("ema") or {})}
    payload = {k: ckpt[k] for k in ("step", "seed", "components", "inference", "recipe") if k in ckpt}
    if isinstance(payload.get("recipe"), dict) and "data" in payload["recipe"]:
        payload["recipe"] = {**payload["recipe"], "data": _file_names(payload["recipe"]["data"])}
    payload.update(state={"networks": networks, "ema": {}}, rng={})
    save_checkpoint(output, payload)
    return payload
