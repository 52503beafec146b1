"""Training settings of a recipe's ``train`` section, with their defaults."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal


@dataclass
class Augment:
    """The ``train.augment`` settings (a recipe gives them as a mapping; each defaults to off).

    ``flips``: random flips along each axis; ``rot90``: random quarter turns (cubic patches only);
    ``noise``: Gaussian noise of standard deviation up to this, in units of the normalised input;
    ``blur``: Gaussian blur of σ up to this, in voxels; ``anisotropy``: downsampling along one axis
    by a factor up to this (3D). Which of them a task applies is stated by the task.
    """

    flips: bool = False
    rot90: bool = False
    noise: float = 0.0
    blur: float = 0.0
    anisotropy: float = 0.0


@dataclass
class TrainConfig:
    """Settings the trainer owns. Units: steps are generator updates; lr in 1/step."""

    steps: int = 1000
    batch_size: int = 8
    seed: int = 0
    device: str = "auto"  # auto: cuda when available, else cpu
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # fp32 | bf16 | fp16 (autocast on CUDA; fp32 on CPU with a notice)
    optimizer: dict = field(default_factory=lambda: {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]})
    critic_optimizer: dict | None = None  # default: same as optimizer
    critic_steps: int = 1  # critic updates per generator update (each on a fresh batch)
    grad_clip: float | None = None  # max gradient norm, generator and critic
    weight_clip: float | None = None  # WGAN: clamp critic weights to [-c, c] after each update
    gradient_penalty: float | None = None  # WGAN-GP weight (the task applies it)
    ema: float | None = None  # decay of an exponential moving average of generator weights
    lr_schedule: dict | None = None  # {name: cosine|step|linear-decay, ...}
    log_every: int = 10
    checkpoint_every: int = 500
    val_every: int = 100
    val_batches: int = 4
    compile: bool = False
    channels_last: bool = False
    num_workers: int = 0
    patch_size: int | list[int] = 32
    augment: dict | None = None  # validated as an Augment record (see recipes.validate)
    deterministic: bool = False

    @classmethod
    def from_section(cls, section: dict | None) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (section or {}).items() if k in known})

    @property
    def batches_per_step(self) -> int:
        return max(1, int(self.critic_steps))
