"""The service's memory budget: a request runs only while the memory it needs is free.

Each registry entry records what one encode or decode costs (``MemoryCost``, measured by
``tzoo bench memory``). A request reserves its cost before it queues and gives it back
when its answer is ready, so the working memory of every request in flight, batches
included (a batch costs the sum of its items), stays within ``max_memory_mib``: one that
could never fit is answered 413 at once, others wait their turn in arrival order (within
the request timeout), and when ``max_waiting`` already wait the next is answered 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import AsyncIterator

from tokenizers_zoo.errors import MediaTooLargeError
from tokenizers_zoo.service.batching import QueueFullError

MIB = 2**20


def default_budget_mib(workers: int) -> int:
    """Half of this machine's memory, shared by the worker processes."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 * 2**30
    return max(64, total // 2 // MIB // max(1, workers))


class MemoryBudget:
    def __init__(self, total_bytes: int, max_waiting: int) -> None:
        self.total = total_bytes
        self.free = total_bytes
        self.max_waiting = max_waiting
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def reserved(self) -> int:
        return self.total - self.free

    @contextlib.asynccontextmanager
    async def reserve(self, nbytes: int, what: str) -> AsyncIterator[None]:
        """Hold ``nbytes`` of the budget for the block; ``what`` names the work in errors."""
        if nbytes > self.total:
            raise MediaTooLargeError(
                f"{what} needs about {nbytes / MIB:.0f} MiB, over the service's memory budget of "
                f"{self.total / MIB:.0f} MiB (--max-memory-mib, TZOO_MAX_MEMORY_MIB)"
            )
        await self._acquire(nbytes)
        try:
            yield
        finally:
            self.free += nbytes
            self._wake()

    async def _acquire(self, nbytes: int) -> None:
        if not self._waiting and nbytes <= self.free:
            self.free -= nbytes
            return
        if len(self._waiting) >= self.max_waiting:
            raise QueueFullError(
                f"{len(self._waiting)} requests already wait for memory "
                f"({self.reserved / MIB:.0f} of {self.total / MIB:.0f} MiB in use)",
                retry_after=1,
            )
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((nbytes, turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # granted just as the caller gave up
                self.free += nbytes
            with contextlib.suppress(ValueError):
                self._waiting.remove((nbytes, turn))
            self._wake()
            raise

    def _wake(self) -> None:
        """Grant waiters in arrival order while the first one fits (no overtaking, so a large
        request is not starved by a stream of small ones)."""
        while self._waiting and self._waiting[0][0] <= self.free:
            nbytes, turn = self._waiting.popleft()
            if turn.cancelled():
                continue
            self.free -= nbytes
            turn.set_result(None)
