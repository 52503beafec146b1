"""The abstract parts every method is built from.

Array conventions (see :mod:`emgan_core.volume`): volumes are (z, y, x), image stacks (n, y, x);
network tensors are (batch, channel, *spatial) with spatial = (z, y, x) or (y, x).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from .settings.inference import EvalSettings
from .volume import ImageStack, Volume


class Simulator(ABC):
    """Turns an atomic model or a volume into the inputs a method needs.

    ``input_kind`` says what :meth:`simulate` takes: ``"structure"`` (an
    :class:`~emgan_core.io.structures.Atoms`) or ``"volume"`` (a :class:`Volume`). The result is a
    :class:`Volume`, an :class:`ImageStack` or a dict of them (e.g. a diffraction triplet).
    """

    input_kind: ClassVar[str] = "structure"

    @abstractmethod
    def simulate(self, source: Any, **kwargs) -> Volume | ImageStack | dict[str, Any]:
        """Simulate from ``source``; units follow the constructor's parameters (Å, mrad)."""

    def read_input(self, path: str | Path):
        """Load ``path`` as this simulator's input (structure or map)."""
        from .io import read_map, read_structure

        return read_structure(path) if self.input_kind == "structure" else read_map(path)

    def check_overlap(self, source: Any, grid: Volume) -> None:
        """Refuse a user's ``grid`` (a map to simulate onto) that ``source`` cannot reach, in one
        line; called where the grid comes from the user (``simulate --on-grid``, a benchmark's
        reference). Nothing to check by default."""

    def write_output(self, result, path: str | Path) -> list[Path] | None:
        """Write a result atomically: a Volume as MRC map, an ImageStack as .mrcs. A simulator with
        several outputs writes them beside ``path`` and returns their paths."""
        from .io import write_any

        write_any(result, path)


class Generator(nn.Module, ABC):
    """A network mapping (B, in_channels, *spatial) to (B, out_channels, *spatial).

    ``spatial_dims`` is 2 (y, x) or 3 (z, y, x). Output values follow the task's normalisation
    (usually [0, 1] or [-1, 1]).
    """

    spatial_dims: int = 3
    in_channels: int = 1
    out_channels: int = 1

    @abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor: ...


class Critic(nn.Module, ABC):
    """A discriminator: (B, C, *spatial) to logits, either (B, 1) or a patch map (B, 1, *patches).

    Logits are unbounded scores (no sigmoid); the adversarial :class:`Loss` interprets them.
    """

    spatial_dims: int = 3

    @abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor: ...


class Classifier(nn.Module, ABC):
    """A network mapping (B, C, *spatial) to class logits (B, n_classes).

    :meth:`embed` gives the (B, D) features the logits are computed from: the embedding that
    FID, PRDC and feature-space comparisons use.
    """

    spatial_dims: int = 3
    n_classes: int = 2

    @abstractmethod
    def embed(self, x: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor: ...


class Loss(ABC):
    """A named loss term. Pixel losses compare (output, target) tensors of equal shape.

    Adversarial losses also implement :meth:`critic_loss` and :meth:`generator_loss` on logits.
    """

    adversarial: ClassVar[bool] = False

    @abstractmethod
    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...

    def critic_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} is not an adversarial loss")

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} is not an adversarial loss")


@dataclass
class MetricResult:
    """Scalar values by name, and optional curves by name as {"x": [...], "y": [...]} lists."""

    values: dict[str, float]
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)


class Metric(ABC):
    """Compares an output with a reference of the same grid: (z, y, x) volumes, (y, x) images or
    (n, y, x) stacks, as arrays or as :class:`Volume`/:class:`ImageStack` (which carry spacing).

    A metric that places two maps in world coordinates itself sets ``shared_grid = False`` and is
    given the output on its own grid."""

    shared_grid: bool = True

    @abstractmethod
    def __call__(self, output, reference) -> MetricResult: ...


class Task(ABC):
    """Owns a method's game: which networks exist, how a batch becomes losses, how inference runs.

    The trainer owns everything generic (devices, precision, optimisers, stepping, logging,
    checkpoints, distribution). Lifecycle: the trainer builds the task from its recipe params,
    builds one network per role in ``roles`` (from the recipe's ``generator``/``critic`` sections,
    or ``generators``/``critics`` for several) and calls :meth:`bind`. Batches are dicts of
    (B, C, *spatial) tensors already on the device.
    """

    #: role -> component kind ("generator", "critic" or "classifier"); critic roles are updated by
    #: the critic optimiser, all others by the generator optimiser (``train.optimizer``).
    roles: ClassVar[dict[str, str]] = {"generator": "generator", "critic": "critic"}
    #: roles a recipe may leave out (e.g. a critic, for purely supervised training)
    optional_roles: ClassVar[frozenset[str]] = frozenset({"critic"})
    #: this task's defaults for the ``eval`` settings (:class:`~emgan_core.settings.inference.EvalSettings`
    #: field -> value), e.g. a method's published window and stride; the recipe's ``eval`` section
    #: and the CLI's flags override them
    eval_defaults: ClassVar[dict[str, Any]] = {}
    #: the ``data`` section's schema, key -> type: typed records (dataclasses) for its items, e.g.
    #: ``{"train": list[MapPair], "val": list[MapPair] | None}``; every key of every item is checked
    #: (unknown keys with a close match, files that must exist) before any work. Empty: only paths.
    data_keys: ClassVar[dict[str, Any]] = {}
    #: whether :meth:`infer` takes ``star=`` (a particle table), so ``emgan infer`` can pass a STAR file
    accepts_star: ClassVar[bool] = False

    networks: dict[str, nn.Module]

    def bind(self, networks: dict[str, nn.Module], losses: list[tuple[Loss, float]],
             train=None, data: dict | None = None, eval: dict | None = None,
             simulator: Simulator | None = None) -> None:
        """Receive built networks, (loss, weight) terms and the recipe's settings."""
        self.networks = networks
        self.losses = losses
        self.train = train
        self.data = data or {}
        self.eval = EvalSettings.from_mapping(eval, self.eval_defaults)
        self.simulator = simulator

    def train_dataset(self, seed: int):
        """A map-style dataset whose item ``i`` is a deterministic dict of tensors."""
        raise NotImplementedError(f"{type(self).__name__} does not train from data")

    def val_dataset(self, seed: int):
        """A finite dataset for validation, or None."""
        return None

    @abstractmethod
    def generate(self, batch: dict[str, torch.Tensor]) -> Any:
        """The generator side's output(s) for a batch (a tensor, or a tuple/dict for several
        generators). The trainer calls it once per batch and hands the result to
        :meth:`critic_losses` and :meth:`generator_losses` of the same batch, so the generator runs
        once per step; it is called with gradients on for the batch the generator learns from."""

    @abstractmethod
    def critic_losses(self, batch: dict[str, torch.Tensor], generated: Any) -> dict[str, torch.Tensor]:
        """Critic-side loss terms for one batch and its :meth:`generate` output (detach it); their
        sum is minimised by the critic(s)."""

    @abstractmethod
    def generator_losses(self, batch: dict[str, torch.Tensor], generated: Any) -> dict[str, torch.Tensor]:
        """Generator-side loss terms for one batch and its :meth:`generate` output; their sum is
        minimised by the generator(s)."""

    def validation_losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss terms on a validation batch (no gradients); default: the generator's."""
        return self.generator_losses(batch, self.generate(batch))

    def example_batch(self, batch_size: int, patch_size) -> dict[str, torch.Tensor] | None:
        """A training batch of the shape :meth:`train_dataset` serves (zeros, on torch's current
        default device), so that a recipe is tried on the ``meta`` device before any work (the
        networks' forward passes, the memory a step needs). None (the default) when the shape is
        known only from the data."""
        return None

    def example_inference_batch(self) -> dict[str, torch.Tensor] | None:
        """One batch of the shape inference feeds :meth:`generate` (see :meth:`example_batch`)."""
        return None

    def summaries(self, batch: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        """2D images (y, x) to show in TensorBoard, e.g. central slices of input/output/target."""
        return {}

    def inference_spec(self) -> dict:
        """Plain data inference needs, stored in checkpoints: ``eval`` (the
        :class:`~emgan_core.settings.inference.EvalSettings`) and what the task adds (normalisation,
        the voxel size it was trained at, ...)."""
        return {"eval": self.eval.as_dict()}

    def load_inference_spec(self, spec: dict) -> None:
        """Restore what :meth:`inference_spec` returned."""
        self.eval = EvalSettings.from_stored(spec, self.eval_defaults)

    @abstractmethod
    def infer(self, source: Any, **options) -> Volume | ImageStack:
        """Run the trained generator on a whole input (streaming patches where it applies)."""


def as_array(value) -> np.ndarray:
    """The float64 array inside a Volume/ImageStack/array-like."""
    if isinstance(value, (Volume, ImageStack)):
        return np.asarray(value.data, dtype=np.float64)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)
