"""Codebook statistics that stay identical across data-parallel ranks.

Collectives run only when torch.distributed is initialised with more than one rank,
and every call site is reached on every rank under the same (already synchronised)
conditions, so no rank waits for a collective the others never issue: the cause of
the DDP hangs reported against vector-quantize-pytorch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum_(tensor: Tensor) -> Tensor:
    """Sum ``tensor`` over ranks in place (a no-op on one process)."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_(tensor: Tensor, src: int = 0) -> Tensor:
    """Overwrite ``tensor`` with rank ``src``'s copy in place (a no-op on one process)."""
    if is_distributed():
        dist.broadcast(tensor, src=src)
    return tensor


def rank() -> int:
    """This process's rank (0 on one process)."""
    return dist.get_rank() if is_distributed() else 0


def first_rank_with_data(count: int, device: torch.device) -> int | None:
    """The lowest rank whose local ``count`` is positive, or None when no rank has any.

    A collective when distributed: call it on every rank under the same condition. Lets
    a rank with an empty batch receive codes instead of being the one that draws them.
    """
    if not is_distributed():
        return 0 if count > 0 else None
    counts = torch.zeros(dist.get_world_size(), dtype=torch.long, device=device)
    counts[dist.get_rank()] = count
    dist.all_reduce(counts, op=dist.ReduceOp.SUM)
    nonempty = (counts > 0).nonzero()
    return int(nonempty[0, 0]) if nonempty.numel() else None
