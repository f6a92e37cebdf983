"""Codebook statistics that stay identical across data-parallel ranks.

Collectives run only when torch.distributed is initialised with more than one rank,
and every call site is reached on every rank under the same (already synchronised)
conditions, so no rank waits for a collective the others never issue: the cause of
the DDP hangs reported against vector-quantize-pytorch.
"""

from __future__ import annotations

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
