"""Inference settings: the recipe's ``eval`` section as one typed record, :class:`EvalSettings`.

One owner for how a trained generator runs over a whole input. The recipe's ``eval`` section fills
it (over the defaults its task declares in ``Task.eval_defaults``), the checkpoint stores it, the
CLI's flags replace fields of it (:meth:`EvalSettings.replace`), and the core inferer reads it
(:meth:`emgan_core.inferers.PatchInferer.from_settings`). Its names are not those of the ``train``
section: a training patch is ``train.patch_size``, an inference window ``eval.window``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from ..errors import EmganError
from ..params import InputPath, Range, check_record

Blend = Literal["crop", "average", "hann", "tiles"]
WindowRule = Literal["all", "nonempty", "centre", "core"]
Size = Annotated[int, Range(min=1)] | list[Annotated[int, Range(min=1)]]

#: names of earlier recipes and checkpoints -> the field that holds them now
RENAMED = {"patch_size": "window", "mode": "blend", "core": "window_core", "stride": "window_stride",
           "skip_empty": "windows"}


@dataclass(frozen=True)
class EvalSettings:
    """How a trained generator runs over a whole input (a map, an image stack, a set).

    Args:
        window: edge of the windows the generator sees, in voxels (pixels in 2D); one int or one per
            spatial axis (z, y, x). None: the training patch size.
        blend: how windows merge: ``crop`` (keep each window's central ``window_core``; windows
            tile the input), ``average`` (equal weights where windows overlap), ``hann``
            (raised-cosine weights), or ``tiles``: every output voxel computed once, the network
            run on large tiles with a ``halo`` of context
            (:class:`~emgan_core.inferers.tiles.TiledInferer`; fully convolutional 3D generators).
        window_core: with ``crop``, the central part kept from each window (default: all of it).
        window_stride: with ``average``/``hann``, the step between window starts, in voxels
            (default: half the window).
        windows: which windows are computed (``average``/``hann``): ``all``; ``nonempty`` (some
            input voxel is non-zero); ``centre`` (the window's centre voxel is non-zero); ``core``
            (some voxel of its central stride-sized block is non-zero). Voxels that no computed
            window covers get 0.
        tile: with ``tiles``, the edge of the part of each tile that is kept, in voxels (None: the
            whole volume where memory holds it, else as large as memory allows).
        halo: with ``tiles``, voxels of context around each tile's kept part (None: the network's
            receptive field, measured).
        batch_size: windows (or images) per forward pass.
        precision: ``fp32``, or ``bf16``: the generator's forward passes under bfloat16 autocast
            (1.1× faster for SuperEM on 2 CPU cores, r 1.0000 with fp32 after window averaging;
            GPUs gain more).
        inputs: inputs to evaluate the model on (``emgan run`` reports on them when ``report``
            is true).
        references: the references of ``inputs``, one each.
        report: score ``inputs`` against ``references`` at the end of a run.
    """

    window: Size | None = None
    blend: Blend = "crop"
    window_core: Size | None = None
    window_stride: Size | None = None
    windows: WindowRule = "all"
    tile: Annotated[int, Range(min=1)] | None = None
    halo: Annotated[int, Range(min=0)] | None = None
    batch_size: Annotated[int, Range(min=1)] = 8
    precision: Literal["fp32", "bf16"] = "fp32"
    inputs: list[InputPath] = field(default_factory=list)
    references: list[InputPath] = field(default_factory=list)
    report: bool = False

    @classmethod
    def from_mapping(cls, values: dict | None, defaults: dict | None = None, where: str = "eval") -> "EvalSettings":
        """The settings of a recipe's ``eval`` section (``values``) over a task's ``defaults``;
        earlier names (``patch_size``, ``mode``, ``stride``, ...) are read as their new fields.
        One line names the first problem (an unknown key, a value of the wrong type)."""
        given = _current(values or {}, defaults or {})
        merged = {**_current(defaults or {}, {}), **given}
        problems = check_record(merged, cls, where)
        if problems:
            key, message = problems[0]
            raise EmganError(message, key)
        if merged.get("blend", "crop") == "crop" and merged.get("windows") in ("centre", "core"):
            if "windows" in given:
                raise EmganError(f"the window rule '{merged['windows']}' needs the average or hann blend "
                                 f"(crop windows tile the input: all or nonempty)", f"{where}.windows")
            merged["windows"] = "nonempty"  # the task's rule, as near as cropped windows allow
        return cls(**merged)

    @classmethod
    def from_stored(cls, spec: dict, defaults: dict | None = None) -> "EvalSettings":
        """The settings a checkpoint holds: ``spec["eval"]``, or the flat inference spec of
        checkpoints written before the record existed."""
        stored = spec.get("eval")
        if stored is None:
            stored = {k: v for k, v in spec.items() if k in RENAMED or k in _FIELDS}
        return cls.from_mapping(stored, defaults, "checkpoint inference spec")

    def replace(self, **changes: Any) -> "EvalSettings":
        """A copy with the fields given (``None``: a flag that was not given, left as is)."""
        given = {k: v for k, v in changes.items() if v is not None}
        return type(self).from_mapping({**self.as_dict(), **given}, where="eval")

    def autocast(self, device):
        """The context the generator's forward passes run in on ``device``: bfloat16 autocast
        with ``precision: bf16``, else nothing."""
        import contextlib

        import torch

        if self.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)

    def as_dict(self) -> dict:
        """Plain data (for checkpoints and YAML)."""
        return dataclasses.asdict(self)


_FIELDS = {f.name for f in dataclasses.fields(EvalSettings)}


def _current(values: dict, defaults: dict) -> dict:
    """``values`` with earlier names read as today's fields (an explicit new name wins)."""
    out = {k: v for k, v in values.items() if k not in RENAMED}
    for old, new in RENAMED.items():
        if old == "skip_empty" and values.get(old) is False:  # earlier checkpoints: every window, whatever else
            out["windows"] = "all"
            continue
        if old not in values or new in values:
            continue
        if old == "skip_empty":  # a bool, now a window rule: the task's own rule where it has one
            rule = defaults.get("windows", "all")
            out["windows"] = (rule if rule != "all" else "nonempty") if values[old] else "all"
        else:
            out[new] = values[old]
    return out


def eval_schema() -> dict:
    """The ``eval`` section's keys and their types (for recipe validation and ``emgan schema``)."""
    import typing

    return typing.get_type_hints(EvalSettings, include_extras=True)


def apply_eval_options(task, options: dict | None) -> dict:
    """Set the fields of ``task.eval`` that ``options`` (keyword options of an inference call,
    e.g. a benchmark method's ``options``) name, and return the other options (those of the task's
    ``infer``)."""
    options = dict(options or {})
    settings = {k: options.pop(k) for k in list(options) if k in _FIELDS}
    if settings:
        task.eval = task.eval.replace(**settings)
    return options
