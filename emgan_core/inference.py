"""Inference from a checkpoint: device choice, loading a trained task, running it to a file, and
the networks' test-time mode (:func:`test_time`).

pix2pix (Isola et al. 2017, §3.3 and §4) runs its generator at test time exactly as in training:
dropout stays on (the GAN's only noise source) and batch normalisation uses the statistics of the
test batch, not the running averages (with batch size 1 this is instance normalisation). Tasks of
the pix2pix family use :func:`test_time` with ``mode="pix2pix"`` by default and ``"eval"`` (dropout
off, running statistics) on request.
"""

from __future__ import annotations

import contextlib
import time

from .errors import EmganError
from .registry import get_registry

TEST_MODES = ("pix2pix", "eval")


def check_test_mode(mode: str) -> str:
    if mode not in TEST_MODES:
        raise EmganError(f"test-time mode must be one of {', '.join(TEST_MODES)}, got {mode!r}", "test_mode")
    return mode


@contextlib.contextmanager
def test_time(*modules, mode: str = "pix2pix"):
    """Run ``modules`` (torch networks) in a test-time mode inside the block; restore every
    submodule's ``training`` flag and norm settings after it.

    ``"eval"``: ``module.eval()``: dropout off, normalisation layers use their running statistics.
    ``"pix2pix"``: as pix2pix at test time: dropout layers sample (training mode) and every
    normalisation layer with running statistics (batch norm; instance norm with
    ``track_running_stats``) normalises with the statistics of the batch it is given, without
    updating its running buffers (``track_running_stats`` is off inside the block, so neither the
    running mean/variance nor ``num_batches_tracked`` change: the saved model is untouched). The
    output of one image then depends on the batch it is in, as in pix2pix; it is stochastic (seed
    torch for a reproducible draw).
    """
    from torch import nn

    check_test_mode(mode)
    saved = [(m, m.training, getattr(m, "track_running_stats", None)) for module in modules for m in module.modules()]
    try:
        for module in modules:
            module.eval()
        if mode == "pix2pix":
            for module in modules:
                for m in module.modules():
                    if isinstance(m, nn.modules.dropout._DropoutNd):
                        m.training = True
                    elif isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats:
                        m.training, m.track_running_stats = True, False
        yield modules
    finally:
        for m, training, track in saved:
            m.training = training
            if track is not None:
                m.track_running_stats = track


def load_for_inference(checkpoint, device: str = "cpu", test_mode: str | None = None,
                       task: str | tuple[str, ...] | None = None):
    """(task ready for infer, checkpoint payload) from a checkpoint file, a run directory or the
    name of a registered model (``emgan models``; fetched on first use).
    ``test_mode`` (``pix2pix`` or ``eval``) overrides the task's test-time mode, for tasks that
    have one (a ``test_mode`` attribute). ``task``: the task name(s) the checkpoint must hold, else
    a one-line error naming what it holds (e.g. a classifier given where a GAN is expected)."""
    from .io.checkpoints import load_checkpoint
    from .models import resolve_checkpoint
    from .recipes import build_task

    ckpt = load_checkpoint(resolve_checkpoint(checkpoint))
    held = ckpt["components"]["task"]["name"]
    wanted = (task,) if isinstance(task, str) else task
    if wanted and held not in wanted:
        raise EmganError(f"this is a task/{held} model, expected task/{' or task/'.join(wanted)}", str(checkpoint))
    built, modules = build_task(get_registry(), ckpt["components"])
    weights = ckpt["state"]["ema"] or {}
    for role, module in modules.items():
        module.load_state_dict(weights.get(role, ckpt["state"]["networks"][role]))
        module.eval()
    built.load_inference_spec(ckpt["inference"])
    if test_mode is not None:
        check_test_mode(test_mode)
        if not hasattr(built, "test_mode"):
            raise EmganError(f"task/{held} has no test-time mode to choose", "--eval-mode")
        built.test_mode = test_mode
    return built, ckpt


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EmganError(f"device {name} requested but CUDA is not available", "--device")
    return name


def _is_star(path) -> bool:
    return str(path).lower().endswith(".star")


def std_path(output):
    """Where the Monte-Carlo dropout standard deviation of ``output`` goes: ``NAME_std.EXT``."""
    from pathlib import Path

    output = Path(output)
    suffix = "".join(output.suffixes)
    return output.with_name(output.name[: len(output.name) - len(suffix)] + "_std" + suffix)


def infer_to_file(checkpoint, source, output, *, ref_map=None, device="auto", eval=None,
                  resolution=None, star=None, check=None, mc_samples=None, test_mode=None, seed=0):
    """Load a checkpoint, run its task's inference on ``source``, optionally resample onto
    ``ref_map``'s grid, write ``output`` atomically. ``check(task, checkpoint_path)`` may refuse the
    model before any work. ``eval``: fields of the task's
    :class:`~emgan_core.settings.inference.EvalSettings` to replace (e.g. ``{"batch_size": 4}``
    from ``--batch-size``; ``None`` values leave a field as the checkpoint says). Returns (result,
    checkpoint payload, seconds, device).

    Particle images: when ``source`` is a STAR file, or an .mrcs stack with its ``star`` file, a
    copy of the STAR file pointing at ``output`` is written next to it (``output`` with .star).

    ``mc_samples`` N: Monte-Carlo dropout; ``output`` is the mean of N stochastic passes and their
    per-voxel standard deviation goes to :func:`std_path` (same geometry).

    ``test_mode``: ``pix2pix`` / ``eval`` for tasks with a test-time mode (:func:`test_time`;
    default: the task's own). torch is seeded with ``seed`` first, so a stochastic (pix2pix-mode)
    inference is reproducible.
    """
    from pathlib import Path

    from .io import read_map, write_any, write_star_copy
    from .transforms import resample_to_grid
    from .volume import Volume

    table, star_out = _particle_inputs(source, star, output, mc_samples, [checkpoint, ref_map])
    ref = read_map(ref_map) if ref_map else None
    device = resolve_device(device)
    task, ckpt = load_for_inference(checkpoint, device, test_mode=test_mode)
    if check is not None:
        check(task, checkpoint)
    task.eval = task.eval.replace(**(eval or {}))
    if table is not None and not getattr(task, "accepts_star", False):
        raise EmganError(f"task/{ckpt['components']['task']['name']} does not take particle STAR files",
                         str(star or source))
    t0 = time.perf_counter()
    options = {"resolution": resolution} if resolution is not None else {}
    if table is not None:
        options["star"] = table
    out, std = _infer(task, source, device, options, mc_samples, seed)
    if ref is not None:
        if not isinstance(out, Volume):
            raise EmganError("--ref-map applies to maps, not image stacks", "--ref-map")
        out = resample_to_grid(out, ref)
        std = resample_to_grid(std, ref) if std is not None else None
    if star_out is not None and isinstance(out, Volume):
        raise EmganError("a STAR file applies to image stacks only", str(star or source))
    if std is not None:
        write_any(std, std_path(output))
    write_any(out, output)
    if star_out is not None:
        try:
            write_star_copy(table, output, star_out, source_stack=None if _is_star(source) else source)
        except BaseException:
            Path(output).unlink(missing_ok=True)  # no stack without its STAR file
            raise
    return out, ckpt, time.perf_counter() - t0, device


def _particle_inputs(source, star, output, mc_samples, inputs=()):
    """(particle table or None, the STAR copy to write or None), every output checked (writable,
    not an input, not an existing file unless ``--overwrite``) and the stack checked to be in the
    STAR file before any work."""
    from pathlib import Path

    from .io import read_particle_star
    from .io.atomic import check_output

    star = source if star is None and _is_star(source) else star
    inputs = [source, star, *inputs]
    check_output(output, inputs)
    if mc_samples is not None:
        check_output(std_path(output), inputs)
    table = read_particle_star(star) if star is not None else None
    star_out = Path(output).with_suffix(".star") if table is not None else None
    if star_out is not None:
        if star_out.resolve() == Path(star).resolve() or (star_out.exists() and star_out.samefile(star)):
            raise EmganError(f"the STAR copy of the output goes beside it, as {star_out.name}, which is the input "
                             "STAR file: choose another output name", str(output))
        check_output(star_out, inputs)
        if not _is_star(source):
            from .io.particles import stack_rows

            stack_rows(table, source)
    return table, star_out


def _infer(task, source, device, options, mc_samples, seed):
    """(output, per-voxel std or None): one seeded inference, or the mean of ``mc_samples``
    Monte-Carlo dropout passes."""
    import torch

    torch.manual_seed(int(seed))
    if mc_samples is None:
        return task.infer(source, device=device, **options), None
    from .inferers import mc_dropout

    generators = [net for role, net in task.networks.items() if task.roles.get(role) == "generator"]
    return mc_dropout(lambda: task.infer(source, device=device, **options),
                      generators, int(mc_samples))
