"""Try a recipe before any work: build its components on torch's ``meta`` device (shapes only, no
memory), run one training step's forward passes on a batch of the recipe's shape and one
inference patch, and estimate the peak memory of the batch and patch asked for.

Each problem is ``(key path, message)`` at the recipe key it comes from: a constructor's
``ValueError`` at ``generator.params``, a patch the networks cannot take at ``train.patch_size``,
a batch that would not fit at ``train.batch_size``.
"""

from __future__ import annotations

import contextlib
import inspect
import os

import torch

from ..errors import EmganError
from ..registry import Registry
from ..settings.train import TrainConfig

#: errors a component's constructor or forward pass raises for values it cannot take
_REFUSALS = (ValueError, TypeError, RuntimeError, AssertionError, IndexError, ZeroDivisionError, NotImplementedError)


def _first_line(err: BaseException) -> str:
    text = err.message if isinstance(err, EmganError) else str(err)
    line = (text.strip().splitlines() or [type(err).__name__])[0]
    return line if isinstance(err, EmganError) else f"{line} ({type(err).__name__})"


def _section(role: str, kind: str) -> str:
    return kind if role == kind else f"{kind}s.{role}"


def _build(registry: Registry, kind: str, spec: dict, key: str, problems: list):
    """``kind/name`` built from ``spec`` on the meta device, or None with the problem recorded at
    ``key.params`` (or at the parameter an error names)."""
    entry = registry.get(kind, spec["name"])
    given = spec.get("params", {})
    try:
        return registry.build(kind, spec["name"], **given)
    except EmganError as err:
        params = inspect.signature(entry.component.factory).parameters
        where = f"{key}.params.{err.where}" if err.where in params else f"{key}.params"
        problems.append((where, err.message if err.where in params or not err.where else err.line()))
    except _REFUSALS as err:
        # the error's place: the first given parameter its message names, else the whole params
        named = next((p for p in inspect.signature(entry.component.factory).parameters
                      if p in given and p in str(err)), None)
        problems.append((f"{key}.params" + (f".{named}" if named else ""), _first_line(err)))
    return None


def _empty_layers(module: torch.nn.Module) -> str | None:
    for name, p in module.named_parameters():
        if p.numel() == 0:
            return f"layer {name} has no weights (shape {tuple(p.shape)}): a width or channel count of 0?"
    return None


class _ActivationMeter:
    """Bytes of the tensors that leaf modules output while active: what autograd keeps for the
    backward pass, to a first approximation."""

    def __init__(self, modules):
        self.bytes = 0
        self.handles = [m.register_forward_hook(self._hook) for net in modules for m in net.modules()
                        if not list(m.children())]

    def _hook(self, module, inputs, output):
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor):
                self.bytes += t.numel() * t.element_size()

    def close(self):
        for h in self.handles:
            h.remove()


def machine_memory(device: str) -> tuple[int, str]:
    """(bytes, description) of the memory a run on ``device`` may use here: the GPU's for CUDA, the
    machine's physical memory for the CPU (``auto`` without CUDA); 0 when unknown (a CUDA device
    named on a machine that has none: the recipe is for another machine)."""
    if device in ("auto", "cuda") or device.startswith("cuda:"):
        if torch.cuda.is_available():
            index = int(device.split(":")[1]) if ":" in device else 0
            return torch.cuda.get_device_properties(index).total_memory, f"GPU {index}"
        if device != "auto":
            return 0, "unknown"
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's memory"
    except (ValueError, OSError, AttributeError):  # not POSIX: no limit known
        return 0, "unknown"


def dry_run(recipe, registry: Registry, components: dict, memory: bool = True) -> list[tuple[str, str]]:
    """Problems of ``recipe`` found by building it on the meta device and running it (see module)."""
    problems: list[tuple[str, str]] = []
    data = recipe.data
    cfg = TrainConfig.from_section(data.get("train"))
    with torch.device("meta"), warnings_off():
        task = _build(registry, "task", components["task"], "task", problems)
        networks = {}
        for role, spec in components["networks"].items():
            key = _section(role, spec["kind"])
            net = _build(registry, spec["kind"], spec, key, problems)
            if net is not None and (empty := _empty_layers(net)):
                problems.append((f"{key}.params", empty))
            networks[role] = net
        losses = []
        for i, spec in enumerate(components["losses"]):
            loss = _build(registry, "loss", spec, f"losses.{i}", problems)
            if loss is not None:
                loss.name = spec["name"]
                losses.append((loss, float(spec.get("weight", 1.0))))
        simulator = None
        if components.get("simulator"):
            simulator = _build(registry, "simulator", components["simulator"], "simulator", problems)
        if problems or task is None:
            return problems
        try:
            task.bind(networks, losses, cfg, data.get("data"), data.get("eval"), simulator)
        except EmganError as err:
            return [(err.where or "task", err.message)]
        size_set = ("train", "patch_size") in recipe.overrides and ("train", "batch_size") not in recipe.overrides
        problems += _forward(task, networks, cfg, "train.patch_size" if size_set else "train.batch_size", memory)
    return problems


def _forward(task, networks: dict, cfg: TrainConfig, key: str = "train.batch_size",
             memory: bool = True) -> list[tuple[str, str]]:
    """One training step's forward passes on a batch of the recipe's shape (its memory estimated,
    a step too large reported at ``key``), then one inference patch."""
    try:
        batch = task.example_batch(cfg.batch_size, cfg.patch_size)
    except _REFUSALS + (EmganError,) as err:
        return [("train.patch_size", _first_line(err))]
    problems = []
    if batch is not None:
        meter = _ActivationMeter(networks.values())
        try:
            generated = task.generate(batch)
            if any(task.roles.get(role) == "critic" for role in networks):
                task.critic_losses(batch, generated)
            task.generator_losses(batch, generated)
        except _REFUSALS + (EmganError,) as err:
            if not _meta_only(err):
                return [("train.patch_size", f"the networks cannot train on {shape_of(batch)} patches: "
                                             f"{_first_line(err)}")]
            # a data-dependent operation (a loss indexing by value) has no meta kernel: the forward
            # passes up to it were checked, the rest is left to the run
        finally:
            meter.close()
        params = sum(p.numel() * p.element_size() for net in networks.values() for p in net.parameters())
        inputs = sum(v.numel() * v.element_size() for v in batch.values())
        # weights, their gradients and two optimiser moments; the activations kept for backward and
        # part of their gradients during it (1.5×: measured 1.25–1.6× on CPU for struc2mapGAN's nets)
        need = 4 * params + 1.5 * meter.bytes + 2 * inputs
        limit, where = machine_memory(cfg.device)
        if memory and limit and need > limit:
            problems.append((key, f"one training step needs about {need / 2**30:.1f} GiB "
                             f"(batch {cfg.batch_size} of {shape_of(batch)} patches), more than {where} "
                             f"({limit / 2**30:.1f} GiB): lower train.batch_size or train.patch_size"))
    try:
        sample = task.example_inference_batch()
        if sample is not None:
            with torch.no_grad():
                task.generate(sample)
    except _REFUSALS + (EmganError,) as err:
        problems.append(("eval.window", f"the generator cannot run on the inference window: {_first_line(err)}"))
    return problems


def _meta_only(err: BaseException) -> bool:
    """Whether ``err`` says only that an operation cannot run on the meta device (no data to
    decide on), not that the recipe is wrong."""
    text = str(err).lower()
    return "meta" in text and (isinstance(err, NotImplementedError) or "not implemented" in text
                               or "unimplemented" in text)


def shape_of(batch: dict) -> str:
    tensor = next((v for v in batch.values() if isinstance(v, torch.Tensor) and v.dim() > 2), None)
    return "×".join(map(str, tensor.shape[2:])) if tensor is not None else "?"


@contextlib.contextmanager
def warnings_off():
    """Silence torch's notes about meta tensors (e.g. zero-element initialisation)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
