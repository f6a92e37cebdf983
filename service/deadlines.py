"""A request's work ends at its timeout or as soon as its client goes away.

Starlette does not cancel a handler when the client disconnects; without this, a
client that gave up would still hold a place in the queue and a slot in a batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

from tokenizers_zoo.service.metrics import ServiceMetrics
from tokenizers_zoo.service.problems import TIMEOUT, ProblemError

T = TypeVar("T")


class ClientDisconnectedError(Exception):
    """The client closed the connection before its answer was ready."""


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        continue


async def within_deadline(
    request: Request, work: Awaitable[T], timeout_s: float, metrics: ServiceMetrics, tokenizer: str
) -> T:
    """``await work``, cancelled when ``timeout_s`` passes (503 with Retry-After; 0: never)
    or the client disconnects (``ClientDisconnectedError``; nobody is left to answer)."""
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait(
            {task, watch}, timeout=timeout_s or None, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        watch.cancel()
    if task in done:
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    if watch in done:
        metrics.rejected.labels(tokenizer, "disconnected").inc()
        raise ClientDisconnectedError
    metrics.rejected.labels(tokenizer, "timeout").inc()
    raise ProblemError(
        TIMEOUT, f"no answer within the request timeout of {timeout_s:g} s", {"Retry-After": "1"}
    )
