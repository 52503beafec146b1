"""Training settings of a recipe's ``train`` section, with their defaults and limits.

Every field carries its type and, where it has one, its range (``Annotated[int, Range(min=1)]``):
``emgan validate`` checks them key by key before any work (see :mod:`emgan_core.params`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Annotated, Literal

from ..params import Range, check_record

Positive = Annotated[int, Range(min=1)]
NonNegative = Annotated[int, Range(min=0)]

#: optimiser name -> the ``torch.optim`` class, imported when first built
OPTIMIZERS = {"adam": "Adam", "nadam": "NAdam", "rmsprop": "RMSprop", "adamw": "AdamW"}


class DeviceName:
    """A device torch can name: ``auto`` (CUDA when available, else the CPU), ``cpu``, ``cuda``,
    ``cuda:N``, ``mps``…"""

    def describe(self) -> str:
        return "a device (auto, cpu, cuda, cuda:N, mps)"

    def problem(self, value) -> str | None:
        if not isinstance(value, str) or value == "auto":
            return None
        import torch

        try:
            torch.device(value)
        except (RuntimeError, ValueError):
            return f"{value!r} is not a device torch can name (auto, cpu, cuda, cuda:N, mps)"
        return None


@dataclass
class Augment:
    """The ``train.augment`` settings (a recipe gives them as a mapping; each defaults to off).

    ``flips``: random flips along each axis; ``rot90``: random quarter turns (cubic patches only);
    ``noise``: Gaussian noise of standard deviation up to this, in units of the normalised input;
    ``blur``: Gaussian blur of σ up to this, in voxels; ``anisotropy``: downsampling along one axis
    by a factor up to this (3D; 0 is off, else at least 1.5). Which of them a task applies is
    stated by the task.
    """

    flips: bool = False
    rot90: bool = False
    noise: Annotated[float, Range(min=0)] = 0.0
    blur: Annotated[float, Range(min=0)] = 0.0
    anisotropy: Annotated[float, Range(min=1.5, also=(0,))] = 0.0


@dataclass
class OptimizerSpec:
    """``train.optimizer`` / ``train.critic_optimizer``: a ``torch.optim`` optimiser by name and its
    settings (those the named optimiser does not take are refused by name)."""

    name: Literal["adam", "nadam", "rmsprop", "adamw"] = "adam"
    lr: Annotated[float, Range(gt=0)] = 2e-4
    betas: Annotated[tuple[float, float], Range(min=0, lt=1)] | None = None
    eps: Annotated[float, Range(gt=0)] | None = None
    weight_decay: Annotated[float, Range(min=0)] | None = None
    momentum: Annotated[float, Range(min=0, lt=1)] | None = None
    alpha: Annotated[float, Range(gt=0, lt=1)] | None = None
    amsgrad: bool | None = None
    centered: bool | None = None
    momentum_decay: Annotated[float, Range(min=0)] | None = None


@dataclass
class ScheduleSpec:
    """``train.lr_schedule``: ``cosine`` (to ``min_factor`` of the rate), ``step`` (× ``gamma`` every
    ``every`` steps) or ``linear-decay`` (constant until ``start``, then linearly to 0, as pix2pix)."""

    name: Literal["cosine", "step", "linear-decay"]
    min_factor: Annotated[float, Range(min=0, max=1)] | None = None
    every: Positive | None = None
    gamma: Annotated[float, Range(gt=0, max=1)] | None = None
    start: NonNegative | None = None


@dataclass
class TrainConfig:
    """Settings the trainer owns. Units: steps are generator updates; lr in 1/step."""

    steps: Positive = 1000
    batch_size: Positive = 8
    seed: NonNegative = 0
    device: Annotated[str, DeviceName()] = "auto"  # auto: cuda when available, else cpu
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # autocast on CUDA; fp32 on CPU with a notice
    optimizer: OptimizerSpec | dict = field(default_factory=lambda: {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]})
    critic_optimizer: OptimizerSpec | dict | None = None  # default: same as optimizer
    critic_steps: Positive = 1  # critic updates per generator update (each on a fresh batch)
    grad_clip: Annotated[float, Range(gt=0)] | None = None  # max gradient norm, generator and critic
    weight_clip: Annotated[float, Range(gt=0)] | None = None  # WGAN: clamp critic weights to [-c, c]
    gradient_penalty: Annotated[float, Range(min=0)] | None = None  # WGAN-GP weight (the task applies it)
    ema: Annotated[float, Range(gt=0, lt=1)] | None = None  # decay of an EMA of generator weights
    lr_schedule: ScheduleSpec | dict | None = None  # {name: cosine|step|linear-decay, ...}
    log_every: Positive = 10
    checkpoint_every: Positive = 500
    val_every: Positive = 100
    val_batches: NonNegative = 4
    compile: bool = False
    channels_last: bool = False
    num_workers: NonNegative = 0
    patch_size: Positive | Annotated[list[int], Range(min=1)] = 32
    augment: Augment | dict | None = None  # checked as an Augment record
    deterministic: bool = False

    @classmethod
    def from_section(cls, section: dict | None) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (section or {}).items() if k in known})

    @property
    def batches_per_step(self) -> int:
        return max(1, int(self.critic_steps))


def train_schema() -> dict:
    """The ``train`` section's keys and their types (typed records for the nested ones)."""
    import typing

    hints = typing.get_type_hints(TrainConfig, include_extras=True)
    records = {"optimizer": OptimizerSpec, "critic_optimizer": OptimizerSpec | None,
               "lr_schedule": ScheduleSpec | None, "augment": Augment | None}
    return {**hints, **records}


def check_train(section: dict, where: str = "train") -> list[tuple[str, str]]:
    """Problems (key path, message) of a ``train`` section beyond its types: optimiser settings the
    named optimiser does not take, a schedule's settings that its kind does not use."""
    problems = []
    for key in ("optimizer", "critic_optimizer"):
        spec = section.get(key)
        if isinstance(spec, dict) and not check_record(spec, OptimizerSpec, f"{where}.{key}"):
            problems += _optimizer_settings(spec, f"{where}.{key}")
    schedule = section.get("lr_schedule")
    if isinstance(schedule, dict) and schedule.get("name") in SCHEDULE_SETTINGS:
        extra = set(schedule) - {"name"} - SCHEDULE_SETTINGS[schedule["name"]]
        problems += [(f"{where}.lr_schedule.{k}", f"not a setting of the {schedule['name']} schedule "
                      f"({', '.join(sorted(SCHEDULE_SETTINGS[schedule['name']]))})") for k in sorted(extra)]
        if schedule["name"] == "step" and "every" not in schedule:
            problems.append((f"{where}.lr_schedule", "the step schedule needs 'every' (steps between decays)"))
    return problems


SCHEDULE_SETTINGS = {"cosine": {"min_factor"}, "step": {"every", "gamma"}, "linear-decay": {"start"}}


def _optimizer_settings(spec: dict, where: str) -> list[tuple[str, str]]:
    import inspect

    import torch

    cls = getattr(torch.optim, OPTIMIZERS[spec.get("name", "adam")])
    accepted = set(inspect.signature(cls).parameters) - {"params"}
    names = [f.name for f in dataclasses.fields(OptimizerSpec)]
    return [(f"{where}.{k}", f"{spec.get('name', 'adam')} takes no '{k}' (it takes "
             f"{', '.join(n for n in names if n in accepted)})") for k in spec if k != "name" and k not in accepted]
