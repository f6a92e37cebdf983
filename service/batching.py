"""Dynamic batching: requests wait in a bounded queue and run together.

Like NVIDIA Triton's dynamic batcher: a batch runs when it is full (``max_batch_size``)
or when its oldest request has waited ``max_wait_s``, whichever comes first, and only
requests with the same key (same shape, same options) share a batch. While one batch
runs, new requests queue up, so under load batches fill by themselves even with no
wait. The work runs on an executor, off the event loop. A request whose caller gives
up (timeout, client gone) is taken out of the queue before it costs anything, and a
failing batch is retried item by item so one bad item cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from tokenizers_zoo.errors import TokenizersZooError

#: ``run(key, items) -> one result per item``; raising fails the whole batch.
BatchFunction = Callable[[Hashable, Sequence[Any]], Sequence[Any]]
#: Called after each batch with ``(key, batch size, seconds it ran)``.
BatchObserver = Callable[[Hashable, int, float], None]


class QueueFullError(TokenizersZooError):
    """The queue holds ``max_queue`` requests already (429); retry after ``retry_after`` s."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BatcherClosedError(TokenizersZooError):
    """The batcher is shutting down and takes no new work (503)."""


@dataclass(eq=False)
class _Job:
    key: Hashable
    item: Any
    future: asyncio.Future[Any]
    enqueued: float = field(default_factory=time.monotonic)


class DynamicBatcher:
    def __init__(
        self,
        run: BatchFunction,
        executor: Executor,
        *,
        max_batch_size: int,
        max_wait_s: float,
        max_queue: int,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self._run = run
        self._executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._on_batch = on_batch
        self._groups: dict[Hashable, deque[_Job]] = {}
        self._size = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._seconds_per_batch = 0.0

    @property
    def depth(self) -> int:
        """Requests waiting (not counting the batch that is running)."""
        return self._size

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def close(self) -> None:
        """Refuse new work, finish everything queued, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def submit(self, key: Hashable, item: Any) -> Any:
        """Queue ``item`` and wait for its result. Cancelling the caller removes the item
        from the queue if it has not started yet."""
        if self._closing:
            raise BatcherClosedError("the service is shutting down")
        if self._size >= self.max_queue:
            raise QueueFullError(
                f"{self._size} requests are queued already (max_queue {self.max_queue})", self._retry_after()
            )
        job = _Job(key, item, asyncio.get_running_loop().create_future())
        self._groups.setdefault(key, deque()).append(job)
        self._size += 1
        self._wakeup.set()
        try:
            return await job.future
        except asyncio.CancelledError:
            self._discard(job)
            raise

    def _discard(self, job: _Job) -> None:
        group = self._groups.get(job.key)
        if group is not None and job in group:
            group.remove(job)
            self._size -= 1
            if not group:
                del self._groups[job.key]

    def _retry_after(self) -> int:
        batches_ahead = math.ceil(self._size / self.max_batch_size)
        return max(1, math.ceil(batches_ahead * self._seconds_per_batch))

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._next_batch()
            if not jobs:
                return
            started = time.perf_counter()
            results = await loop.run_in_executor(self._executor, self._run_isolated, jobs[0].key, jobs)
            elapsed = time.perf_counter() - started
            # A running average, for the Retry-After of rejected requests.
            self._seconds_per_batch = 0.8 * self._seconds_per_batch + 0.2 * elapsed
            if self._on_batch is not None:
                self._on_batch(jobs[0].key, len(jobs), elapsed)
            for job, (ok, value) in zip(jobs, results, strict=True):
                if job.future.done():  # its caller gave up while the batch ran
                    continue
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(value)

    async def _next_batch(self) -> list[_Job]:
        """Wait until the oldest request's group is full or has waited long enough."""
        while True:
            group = min(self._groups.values(), key=lambda g: g[0].enqueued, default=None)
            if group is None:
                if self._closing:
                    return []
                await self._wait(None)
                continue
            remaining = group[0].enqueued + self.max_wait_s - time.monotonic()
            if len(group) >= self.max_batch_size or remaining <= 0 or self._closing:
                jobs = [group.popleft() for _ in range(min(len(group), self.max_batch_size))]
                self._size -= len(jobs)
                if not group:
                    del self._groups[jobs[0].key]
                return jobs
            await self._wait(remaining)

    async def _wait(self, timeout: float | None) -> None:
        self._wakeup.clear()
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        except TimeoutError:
            pass

    def _run_isolated(self, key: Hashable, jobs: list[_Job]) -> list[tuple[bool, Any]]:
        """``(ok, result or exception)`` per job; a failed batch is rerun one item at a time."""
        try:
            return [(True, r) for r in self._run(key, [job.item for job in jobs])]
        except Exception as exc:
            if len(jobs) == 1:
                return [(False, exc)]
        return [self._run_isolated(key, [job])[0] for job in jobs]
