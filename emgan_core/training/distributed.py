"""DistributedDataParallel set-up for runs launched with ``torchrun`` (NCCL on GPUs, gloo on CPU).

Nothing here launches processes: ``torchrun --nproc_per_node=N emgan run …`` does, and for several
nodes ``torchrun --nnodes=M --node_rank=… --rdzv_endpoint=HOST:PORT …``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def init_world(device_kind: str) -> World:
    """Join the process group torchrun set up (env WORLD_SIZE > 1), else a single-process world."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def wrap(module: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    if not world.distributed or not any(p.requires_grad for p in module.parameters()):
        return module
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)


def close(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
