"""The NTP trainer on several processes, launched by ``torchrun``:

    torchrun --standalone --nproc-per-node 2 -m tokenizers_zoo.cli train-ntp --config FILE.yaml

The global batch stays what one process trains on: a step's ``optim.accumulate``
micro-batches are split evenly, rank ``r`` taking the ``r``-th share, and each rank divides
its micro-batch losses by its share rather than by ``accumulate``, so DDP's (or FSDP's)
average of the ranks' gradients is the one process's sum over all micro-batches divided by
``accumulate``. The logged loss is the ranks' sum. Rank 0 alone writes the run directory;
every rank computes the held-out loss (FSDP needs every rank for a forward).

``run.parallel``: ``ddp`` (each rank holds the whole model; gradients all-reduced) or
``fsdp`` (FSDP2's ``fully_shard`` per block and on the whole model: parameters, gradients
and optimizer state sharded; checkpoints gather the full state on rank 0). Backends: NCCL
on CUDA, gloo on CPU.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from tokenizers_zoo.errors import TokenizersZooError

PARALLEL = ("ddp", "fsdp")


class DistributedConfigError(TokenizersZooError, ValueError):
    """A run that cannot be split over the processes it was launched with."""


@dataclass(frozen=True)
class Processes:
    """This process's place among those torchrun started (``launched``; otherwise rank 0 of
    1, on its own)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    launched: bool = False

    @property
    def main(self) -> bool:
        """Whether this process writes the run directory and the log."""
        return self.rank == 0

    def share(self, accumulate: int) -> tuple[int, int]:
        """The micro-batches of a step before this rank's share, and the share's size."""
        if accumulate % self.world:
            raise DistributedConfigError(
                f"optim.accumulate {accumulate} must be a multiple of the {self.world} processes: "
                "each takes an equal share of a step's micro-batches"
            )
        size = accumulate // self.world
        return self.rank * size, size


def launched_rank() -> int:
    """This process's rank as torchrun set it (0 when torchrun did not start it)."""
    return int(os.environ.get("RANK", "0"))


def start(device: torch.device) -> Processes:
    """Join torchrun's process group (its ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``; one
    process too, which FSDP on one GPU needs), or stand alone when torchrun did not start us."""
    if "RANK" not in os.environ:
        return Processes()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    processes = Processes(launched_rank(), world, int(os.environ.get("LOCAL_RANK", "0")), launched=True)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return processes


def stop(processes: Processes, finished: bool) -> None:
    """Leave the process group; after a finished run, all ranks together: one that tears
    gloo down while another still talks to it aborts (``terminate called without an active
    exception``, one FSDP run in four on two CPU processes). After a failure there is no waiting
    for ranks that may never arrive."""
    if processes.launched and dist.is_initialized():
        gc.collect()
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def rank_device(device: torch.device, processes: Processes) -> torch.device:
    """This rank's GPU (``LOCAL_RANK``) when training on CUDA."""
    return torch.device("cuda", processes.local_rank) if device.type == "cuda" else device


def shard(objective: nn.Module, processes: Processes, parallel: str, device: torch.device) -> None:
    """FSDP2: every block of ``objective.model``, then the whole objective (embeddings, norm
    and heads), sharded in place. The objective, not the model, is the root: its ``forward``
    is what the step calls, and the root's hooks gather its parameters around that call."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    if parallel not in PARALLEL:
        raise DistributedConfigError(f"run.parallel must be one of {', '.join(PARALLEL)}, got {parallel!r}")
    if not sharded(processes, parallel):
        return
    mesh = init_device_mesh(device.type, (processes.world,))
    for block in objective.model.blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(objective, mesh=mesh)


def sharded(processes: Processes, parallel: str) -> bool:
    """Whether the model is FSDP's (its state then gathered from the shards)."""
    return processes.launched and parallel == "fsdp"


def replicate(module: nn.Module, processes: Processes, parallel: str, device: torch.device) -> nn.Module:
    """The module the training step calls: DDP around it, or the module itself (one process,
    or FSDP, which ``shard`` applied in place)."""
    if not processes.launched or parallel == "fsdp":
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def total(value: float, processes: Processes, device: torch.device) -> float:
    """The sum of ``value`` over the ranks."""
    if processes.world == 1:
        return value
    summed = torch.tensor(value, dtype=torch.float64, device=device)
    dist.all_reduce(summed)
    return float(summed)


def rng_states(processes: Processes) -> list[torch.Tensor]:
    """Every rank's CPU generator state (ranks draw different amounts: a diffusion head's
    noise follows each rank's latents), in rank order."""
    state = torch.get_rng_state()
    if processes.world == 1:
        return [state]
    states: list[Any] = [None] * processes.world
    dist.all_gather_object(states, state)
    return states


def full_state(
    model: nn.Module, optimizer: torch.optim.Optimizer, parallel: str, processes: Processes
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The whole model's weights and the optimizer state, as one process would hold them
    (on rank 0; FSDP's are gathered from the shards, by every rank together)."""
    if not sharded(processes, parallel):
        return model.state_dict(), optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    weights = get_model_state_dict(model, options=options)
    return weights, get_optimizer_state_dict(model, optimizer, options=options)


def load_optimizer(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    parallel: str,
    processes: Processes,
) -> None:
    """The inverse of ``full_state`` for the optimizer (the weights load before sharding)."""
    if not sharded(processes, parallel):
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))
