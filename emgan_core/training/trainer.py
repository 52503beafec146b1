"""One training loop for every method: the Task plays the game, the Trainer does the rest."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..errors import EmganError
from ..io.atomic import atomic_output
from ..io.checkpoints import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from ..recipes import Recipe, build_task, components_of
from ..registry import Registry, get_registry
from ..settings.train import TrainConfig
from . import distributed
from .data import StepBatchSampler
from .optim import EMA, build_optimizer, build_scheduler
from .penalties import clip_weights
from .rundir import RunDir


def weights_digest(modules: dict[str, torch.nn.Module]) -> str:
    """SHA-256 of all trainable parameters (role order), to compare weights across processes.

    Buffers are left out: batch-norm running statistics are per-rank estimates in DDP."""
    h = hashlib.sha256()
    for role in sorted(modules):
        for name, t in modules[role].named_parameters():
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class Trainer:
    """Builds everything a recipe names and runs ``train.steps`` generator updates."""

    def __init__(self, recipe: Recipe, run_dir: str | Path, registry: Registry | None = None,
                 resume: bool = False):
        self.recipe = recipe
        self.registry = registry or get_registry()
        self.cfg = TrainConfig.from_section(recipe.data.get("train"))
        self.run = RunDir(run_dir)
        self.resume = resume
        self.notices: list[str] = []

    # -- set-up ----------------------------------------------------------------------------------

    def _device(self) -> torch.device:
        want = self.cfg.device
        if want == "auto":
            want = "cuda" if torch.cuda.is_available() else "cpu"
        if want.startswith("cuda") and not torch.cuda.is_available():
            raise EmganError(f"'{want}' asked for, but torch sees no CUDA device here (give train.device=cpu, "
                             "or auto: CUDA when there is one)", "train.device")
        device = torch.device(want)
        if device.type == "cuda" and self.world.distributed:
            device = torch.device("cuda", self.world.local_rank)
            torch.cuda.set_device(device)
        return device

    def _precision(self):
        """(autocast context factory, GradScaler or None)."""
        p = self.cfg.precision
        if p not in ("fp32", "bf16", "fp16"):
            raise EmganError(f"unknown precision '{p}' (fp32, bf16, fp16)", "train.precision")
        if p != "fp32" and self.device.type != "cuda":
            self.notices.append(f"precision {p} needs CUDA: running fp32 on {self.device.type}")
            p = "fp32"
        self.precision = p
        if p == "fp32":
            return contextlib.nullcontext, None
        dtype = torch.bfloat16 if p == "bf16" else torch.float16
        scaler = torch.amp.GradScaler("cuda") if p == "fp16" else None
        return (lambda: torch.autocast("cuda", dtype=dtype)), scaler

    def setup(self) -> None:
        cfg = self.cfg
        self.world = distributed.init_world("cuda" if torch.cuda.is_available() and cfg.device != "cpu" else "cpu")
        self.device = self._device()
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
            if self.device.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
                torch.backends.cudnn.benchmark = False
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.components = components_of(self.recipe, self.registry)
        data = self.recipe.data
        self.task, self.modules = build_task(self.registry, self.components, cfg, data.get("data"),
                                             data.get("eval"))
        self.autocast, self.scaler = self._precision()
        for m in self.modules.values():
            m.to(self.device)
        if cfg.channels_last:
            if self.device.type == "cuda":
                for m in self.modules.values():
                    m.to(memory_format=torch.channels_last_3d if m.spatial_dims == 3 else torch.channels_last)
            else:
                self.notices.append("channels_last helps on CUDA only: ignored on cpu")
        kinds = self.components["networks"]
        gen_roles = [r for r in self.modules if kinds[r]["kind"] != "critic"]  # generators, classifiers
        critic_roles = [r for r in self.modules if kinds[r]["kind"] == "critic"]
        wrapped = {r: distributed.wrap(m, self.world, self.device) for r, m in self.modules.items()}
        if cfg.compile:
            try:
                wrapped = {r: torch.compile(m) for r, m in wrapped.items()}
            except Exception as err:  # noqa: BLE001 - compile support varies by platform
                self.notices.append(f"torch.compile unavailable ({err}): running eagerly")
        self.task.networks = wrapped
        gen_params = [p for r in gen_roles for p in self.modules[r].parameters()]
        self.opt_g = build_optimizer(gen_params, cfg.optimizer, "train.optimizer")
        self.opt_c = None
        if critic_roles:
            c_params = [p for r in critic_roles for p in self.modules[r].parameters()]
            self.opt_c = build_optimizer(c_params, cfg.critic_optimizer or cfg.optimizer,
                                         "train.critic_optimizer")
        self.sched = [s for s in (build_scheduler(o, cfg.lr_schedule, cfg.steps, "train.lr_schedule")
                                  for o in (self.opt_g, self.opt_c) if o is not None) if s is not None]
        self.critic_roles = critic_roles
        self.gen_roles = gen_roles
        self.ema = {r: EMA(self.modules[r], cfg.ema) for r in gen_roles} if cfg.ema else {}
        self.step = 0
        if self.resume:
            if self.world.is_main:
                self.run.lock()  # before reading: no other process may be writing this run
            self._load(load_checkpoint(self.run.path))

    # -- checkpoints -----------------------------------------------------------------------------

    def _payload(self) -> dict:
        return {
            "step": self.step, "seed": self.cfg.seed, "components": self.components,
            "inference": self.task.inference_spec(), "recipe": self.recipe.data,
            "state": {
                "networks": {r: m.state_dict() for r, m in self.modules.items()},
                "ema": {r: e.shadow.state_dict() for r, e in self.ema.items()},
                "optimizer_generator": self.opt_g.state_dict(),
                "optimizer_critic": self.opt_c.state_dict() if self.opt_c else None,
                "schedulers": [s.state_dict() for s in self.sched],
                "scaler": self.scaler.state_dict() if self.scaler else None,
            },
            "rng": rng_state(),
        }

    def _check_resumable(self, ckpt: dict) -> None:
        """The checkpoint must hold the networks the run's recipe builds: the same components with
        the same parameters, and tensors of the same shapes (one line naming the first difference)."""
        where = str(self.run.recipe)
        held = ckpt["components"]
        for key in ("task", "networks", "simulator"):
            if held.get(key) != self.components.get(key):
                raise EmganError(f"recipe.yaml no longer matches the checkpoint ({key}: checkpoint "
                                 f"{held.get(key)}, recipe {self.components.get(key)}); resume needs the "
                                 "recipe the run was trained with", where)
        for role, module in self.modules.items():
            saved = ckpt["state"]["networks"].get(role)
            if saved is None:
                raise EmganError(f"the checkpoint has no weights for role '{role}'", where)
            own = module.state_dict()
            for name in sorted(set(own) | set(saved)):
                a, b = own.get(name), saved.get(name)
                if a is None or b is None or tuple(a.shape) != tuple(b.shape):
                    raise EmganError(f"{role} tensor {name}: checkpoint {None if b is None else tuple(b.shape)}, "
                                     f"recipe's network {None if a is None else tuple(a.shape)}", where)

    def _load(self, ckpt: dict) -> None:
        self._check_resumable(ckpt)
        if int(ckpt["step"]) > self.cfg.steps:
            raise EmganError(f"train.steps {self.cfg.steps} is below step {ckpt['step']} of the last checkpoint: "
                             "resuming only continues a run", str(self.run.path))
        st = ckpt["state"]
        for r, m in self.modules.items():
            m.load_state_dict(st["networks"][r])
        for r, e in self.ema.items():
            e.shadow.load_state_dict(st["ema"][r])
        self.opt_g.load_state_dict(st["optimizer_generator"])
        if self.opt_c and st["optimizer_critic"]:
            self.opt_c.load_state_dict(st["optimizer_critic"])
        for s, sd in zip(self.sched, st["schedulers"]):
            s.load_state_dict(sd)
        if self.scaler and st["scaler"]:
            self.scaler.load_state_dict(st["scaler"])
        self.step = int(ckpt["step"])
        set_rng_state(ckpt["rng"])

    def save(self) -> None:
        if not self.world.is_main:
            return
        path = save_checkpoint(self.run.checkpoints / f"step-{self.step:07d}.pt", self._payload())
        with atomic_output(self.run.checkpoints / "last.pt", suffix=".tmp", replace=True) as tmp:
            shutil.copyfile(path, tmp)  # the same bytes; serialised once

    # -- the loop --------------------------------------------------------------------------------

    def _loader(self, dataset, sampler=None, batch_size=None):
        gen = torch.Generator().manual_seed(self.cfg.seed)  # keeps the global RNG untouched
        if sampler is not None:
            return DataLoader(dataset, batch_sampler=sampler, num_workers=self.cfg.num_workers,
                              generator=gen, pin_memory=self.device.type == "cuda",
                              persistent_workers=self.cfg.num_workers > 0)
        return DataLoader(dataset, batch_size=batch_size, shuffle=False, generator=gen)

    def _to_device(self, batch: dict) -> dict:
        out = {}
        for k, v in batch.items():
            if isinstance(v, torch.Tensor):
                v = v.to(self.device, non_blocking=True)
                if self.cfg.channels_last and self.device.type == "cuda" and v.dim() in (4, 5):
                    v = v.contiguous(memory_format=torch.channels_last_3d if v.dim() == 5 else torch.channels_last)
            out[k] = v
        return out

    def _update(self, loss: torch.Tensor, opt, params_of: list[str]) -> None:
        opt.zero_grad(set_to_none=True)
        if self.scaler:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(opt)
        else:
            loss.backward()
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_([p for r in params_of for p in self.modules[r].parameters()],
                                           self.cfg.grad_clip)
        if self.scaler:
            self.scaler.step(opt)
            self.scaler.update()
        else:
            opt.step()

    @contextlib.contextmanager
    def _plain_networks(self, ema: bool = False):
        """Unwrapped (no DDP/compile) networks in eval mode, EMA weights if asked."""
        wrapped = self.task.networks
        plain = dict(self.modules)
        if ema:
            plain.update({r: e.shadow for r, e in self.ema.items()})
        self.task.networks = plain
        for m in plain.values():
            m.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            for m in self.modules.values():
                m.train()
            self.task.networks = wrapped

    def validate(self, loader, writer) -> dict[str, float] | None:
        if loader is None:
            return None
        sums: dict[str, float] = {}
        n = 0
        first = None
        with self._plain_networks(ema=bool(self.ema)):
            for batch in loader:
                batch = self._to_device(batch)
                first = first or batch
                with self.autocast():
                    terms = self.task.validation_losses(batch)
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                n += 1
            images = self.task.summaries(first) if first is not None else {}
        values = {k: v / max(n, 1) for k, v in sums.items()}
        if writer is not None:
            for k, v in values.items():
                writer.add_scalar(k, v, self.step)
            for name, img in images.items():
                lo, hi = float(img.min()), float(img.max())
                norm = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
                writer.add_image(f"slices/{name}", norm[None], self.step)
        return values

    def _open_run(self):
        """Create (or reopen) the run directory on the main rank; returns (log, TensorBoard writer,
        progress bar or None)."""
        main = self.world.is_main
        if main:
            self.run.lock()
            if not self.resume:
                self.run.ensure_new()
            self.run.create()
            self.run.write_recipe(self.recipe.data)
            self.run.write_environment(self.cfg.seed, str(self.device), self.registry.plugins)
            self.run.truncate_scalars(self.step)
        interactive = main and sys.stderr.isatty()
        log = self.run.logger(main, console=not interactive)
        for n in self.notices:
            log.info(f"notice: {n}")
        writer = bar = None
        if main:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.run.path / "events"), purge_step=self.step if self.resume else None)
        if interactive:
            from tqdm import tqdm

            bar = tqdm(total=self.cfg.steps, initial=self.step, unit="step", dynamic_ncols=True)
        return log, writer, bar

    def _train_step(self, group: list[dict], running: dict[str, torch.Tensor]) -> None:
        """Critic updates on every batch of ``group`` (when there is a critic), then one generator
        update on the last batch; the last batch's generated output is computed once, with
        gradients, and serves both; loss terms are added to ``running``."""
        cfg, last = self.cfg, group[-1]
        with self.autocast():
            generated = self.task.generate(last)
        if self.opt_c:
            for batch in group:
                with self.autocast():
                    if batch is last:
                        terms = self.task.critic_losses(batch, generated)
                    else:
                        with torch.no_grad():
                            other = self.task.generate(batch)
                        terms = self.task.critic_losses(batch, other)
                self._update(sum(terms.values()), self.opt_c, self.critic_roles)
                if cfg.weight_clip:
                    for r in self.critic_roles:
                        clip_weights(self.modules[r], cfg.weight_clip)
                for k, v in terms.items():
                    running[k] = running.get(k, 0) + v.detach()
        with self.autocast():
            gterms = self.task.generator_losses(last, generated)
        self._update(sum(gterms.values()), self.opt_g, self.gen_roles)
        for r, e in self.ema.items():
            e.update(self.modules[r])
        for s in self.sched:
            s.step()
        for k, v in gterms.items():
            running[k] = running.get(k, 0) + v.detach()

    def _log_losses(self, running, count, seconds, log, writer, bar) -> None:
        """Mean loss terms since the last log line: checked finite, written to scalars/TensorBoard."""
        values = {k: float(v) / count for k, v in running.items()}
        if not all(math.isfinite(v) for v in values.values()):
            raise EmganError(f"loss became non-finite at step {self.step}: {values}; lower the "
                             "learning rate or enable grad_clip", "train")
        values["lr/generator"] = self.opt_g.param_groups[0]["lr"]
        if self.opt_c:
            values["lr/critic"] = self.opt_c.param_groups[0]["lr"]
        if not self.world.is_main:
            return
        rate = count / max(seconds, 1e-9)
        eta = (self.cfg.steps - self.step) / rate
        self.run.append_scalars({"step": self.step, **values})
        for k, v in values.items():
            writer.add_scalar(k, v, self.step)
        text = " ".join(f"{k}={v:.4g}" for k, v in values.items() if not k.startswith("lr/"))
        if bar is not None:
            bar.set_postfix_str(text)
        log.info(f"step {self.step}/{self.cfg.steps} {text} ({rate:.2f} steps/s, ETA {eta:.0f} s)",
                 extra={"step_line": True})

    def _record_validation(self, val_loader, writer, metrics: dict, log) -> dict | None:
        values = self.validate(val_loader, writer)
        if values is not None:
            metrics["validation"].append({"step": self.step, **values})
            self.run.write_json("metrics.json", metrics)
            log.info(f"validation at step {self.step}: " + " ".join(f"{k}={v:.4g}" for k, v in values.items()))
        return values

    def fit(self) -> dict:
        """Train to ``train.steps``; returns the final validation values. The run directory is
        locked for this process from its creation (or, resuming, from before the checkpoint is
        read) to the end."""
        try:
            return self._fit()
        finally:
            self.run.unlock()

    def _fit(self) -> dict:
        self.setup()
        cfg = self.cfg
        main = self.world.is_main
        train_ds = self.task.train_dataset(cfg.seed)  # data problems stop the run before its folder exists
        val_ds = self.task.val_dataset(cfg.seed) if main else None
        log, writer, bar = self._open_run()
        per_step = cfg.batches_per_step if self.opt_c else 1
        sampler = StepBatchSampler(cfg.batch_size, self.step * per_step, self.world.rank, self.world.size)
        batches = iter(self._loader(train_ds, sampler))
        val_loader = self._loader(val_ds, batch_size=cfg.batch_size) if val_ds is not None else None
        metrics = self.run.read_json("metrics.json", {"validation": []}) if main else {}
        if main and self.resume:
            metrics["validation"] = [m for m in metrics["validation"] if m["step"] <= self.step]
        n_params = {r: sum(p.numel() for p in m.parameters()) for r, m in self.modules.items()}
        log.info(f"{'resuming at step ' + str(self.step) if self.resume else 'training'} for "
                 f"{cfg.steps} steps on {self.device} ({self.precision}, world size {self.world.size}); "
                 + ", ".join(f"{r}: {n:,} parameters" for r, n in n_params.items()))
        for m in self.modules.values():
            m.train()
        if main and self.step == 0 and val_loader is not None:  # the untrained baseline
            metrics["validation"] = []
            self._record_validation(val_loader, writer, metrics, log)
        running: dict[str, torch.Tensor] = {}
        count, t_log, last_val = 0, time.perf_counter(), None
        self.step_seconds: list[float] = []  # wall time of each step (benchmarks read it)
        while self.step < cfg.steps:
            t_step = time.perf_counter()
            self._train_step([self._to_device(next(batches)) for _ in range(per_step)], running)
            count += 1
            self.step += 1
            self.step_seconds.append(time.perf_counter() - t_step)
            if bar is not None:
                bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                self._log_losses(running, count, time.perf_counter() - t_log, log, writer, bar)
                running, count, t_log = {}, 0, time.perf_counter()
            if main and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                last_val = self._record_validation(val_loader, writer, metrics, log)
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save()
        if bar is not None:
            bar.close()
        digest = weights_digest(self.modules)
        print(f"rank {self.world.rank}: final weights digest {digest}", file=sys.stderr)
        if main:
            metrics["final"] = {"step": self.step, **(last_val or {})}
            metrics["weights_digest"] = digest
            self.run.write_json("metrics.json", metrics)
            writer.close()
            log.info(f"done: {self.run.path} (checkpoint {self.run.checkpoints / 'last.pt'})")
        distributed.close(self.world)
        return metrics
