"""Inference from a checkpoint: device choice, loading a trained task, running it to a file."""

from __future__ import annotations

import time

from .errors import EmganError
from .registry import get_registry


def load_for_inference(checkpoint, device: str = "cpu"):
    """(task ready for infer, checkpoint payload) from a checkpoint file or run directory."""
    from .training.checkpoint import load_checkpoint
    from .training.trainer import build_task

    ckpt = load_checkpoint(checkpoint)
    task, modules = build_task(get_registry(), ckpt["components"])
    weights = ckpt["state"]["ema"] or {}
    for role, module in modules.items():
        module.load_state_dict(weights.get(role, ckpt["state"]["networks"][role]))
        module.eval()
    task.load_inference_spec(ckpt["inference"])
    return task, ckpt


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EmganError(f"device {name} requested but CUDA is not available", "--device")
    return name


def infer_to_file(checkpoint, source, output, *, ref_map=None, device="auto", batch_size=None,
                  resolution=None, check=None):
    """Load a checkpoint, run its task's inference on ``source``, optionally resample onto
    ``ref_map``'s grid, write ``output`` atomically. ``check(task, checkpoint_path)`` may refuse the
    model before any work. Returns (result, checkpoint payload, seconds, device)."""
    from .io import read_map, write_any
    from .io.atomic import check_writable
    from .transforms import resample_to_grid
    from .volume import Volume

    check_writable(output)
    ref = read_map(ref_map) if ref_map else None
    device = resolve_device(device)
    task, ckpt = load_for_inference(checkpoint, device)
    if check is not None:
        check(task, checkpoint)
    t0 = time.perf_counter()
    options = {"resolution": resolution} if resolution is not None else {}
    out = task.infer(source, batch_size=batch_size, device=device, **options)
    if ref is not None:
        if not isinstance(out, Volume):
            raise EmganError("--ref-map applies to maps, not image stacks", "--ref-map")
        out = resample_to_grid(out, ref)
    write_any(out, output)
    return out, ckpt, time.perf_counter() - t0, device
