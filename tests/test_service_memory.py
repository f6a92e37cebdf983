"""The service's memory budget: requests in flight never need more than ``--max-memory-mib``,
one that could never fit is a 413, and the rest wait their turn without a 5xx."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from service_helpers import png, running

from tokenizers_zoo.benchmarks.memory_costs import admission_check
from tokenizers_zoo.errors import MediaTooLargeError
from tokenizers_zoo.service.app import create_app
from tokenizers_zoo.service.batching import QueueFullError
from tokenizers_zoo.service.memory import MIB, MemoryBudget
from tokenizers_zoo.service.settings import ServiceSettings
from tokenizers_zoo.tokenizers.image.patch import PatchConfig, PatchTokenizer


def test_the_budget_is_never_exceeded_and_served_in_arrival_order() -> None:
    async def scenario() -> tuple[list[str], int]:
        budget = MemoryBudget(100, max_waiting=10)
        order: list[str] = []
        peak = 0

        async def job(name: str, nbytes: int, seconds: float) -> None:
            nonlocal peak
            async with budget.reserve(nbytes, name):
                peak = max(peak, budget.reserved)
                order.append(name)
                await asyncio.sleep(seconds)

        await asyncio.gather(job("a", 60, 0.05), job("big", 90, 0.01), job("b", 30, 0.01), job("c", 10, 0.01))
        assert budget.reserved == 0
        return order, peak

    order, peak = asyncio.run(scenario())
    assert peak <= 100
    assert order == ["a", "big", "b", "c"]  # "b" would fit beside "a" but does not overtake "big"


def test_too_large_for_the_budget_and_too_many_waiting() -> None:
    async def scenario() -> None:
        budget = MemoryBudget(10 * MIB, max_waiting=1)
        with pytest.raises(MediaTooLargeError, match=r"needs about 11 MiB, over .* budget of 10 MiB"):
            async with budget.reserve(11 * MIB, "encoding this image"):
                pass
        async with budget.reserve(10 * MIB, "first"):
            waiter = asyncio.ensure_future(budget.reserve(MIB, "second").__aenter__())
            await asyncio.sleep(0)
            with pytest.raises(QueueFullError, match="wait for memory"):
                async with budget.reserve(MIB, "third"):
                    pass
            waiter.cancel()  # a caller that gives up while waiting takes nothing with it
            await asyncio.gather(waiter, return_exceptions=True)
        assert budget.reserved == 0 and budget.free == 10 * MIB

    asyncio.run(scenario())


def test_a_request_over_the_budget_is_a_413_problem() -> None:
    settings = ServiceSettings(tokenizers=("image-fsq-f8-4k",), max_memory_mib=1)
    with running(create_app(settings), ready=True) as server:
        url = f"{server.url}/v1/tokenizers/image-fsq-f8-4k/encode"
        small = httpx.post(url, content=png(24, 32), headers={"Content-Type": "image/png"})
        big = httpx.post(url, content=png(256, 256), headers={"Content-Type": "image/png"})
    assert small.status_code == 200
    assert big.status_code == 413 and big.headers["content-type"] == "application/problem+json"
    assert "memory budget of 1 MiB" in big.json()["detail"]


@pytest.mark.slow
def test_64_concurrent_requests_stay_within_a_small_budget() -> None:
    """64 clients at once, each with the largest image the budget admits one at a time: no
    5xx, and the server's peak resident set rises by about one request's worth, not by the
    32-image batches it runs without a budget (769 MiB when measured)."""
    budget_mib = 16
    # 144 x 144 x 720 B = 14.2 MiB: one fits in the budget, two do not
    result = admission_check(
        "image-fsq-f8-4k", budget_mib, side=144, clients=64, timeout_s=120, torch_threads=1
    )
    assert result["statuses"] == {200: 64}
    assert result["reserved_after_bytes"] == 0
    assert result["peak_rss_rise_mib"] < 3 * budget_mib


class _PacedPatchTokenizer(PatchTokenizer):
    """Takes 20 microseconds per pixel, like a model whose time follows the image."""

    def encode_tensor(self, x: Any, **options: Any) -> Any:
        time.sleep(2e-5 * x.shape[-1] * x.shape[-2])
        return super().encode_tensor(x, **options)


def test_work_that_cannot_finish_within_the_timeout_is_refused_before_it_starts() -> None:
    """After a 32 x 32 image (20 ms), a 256 x 256 one would take 1.3 s at the fastest pace
    seen, over the 1 s timeout: a 413 at once, not a model busy after the caller gave up."""
    loader = lambda name, device, weights: _PacedPatchTokenizer(PatchConfig(16), name)  # noqa: E731
    settings = ServiceSettings(tokenizers=("image-patch-p16",), request_timeout_s=1.0)
    with running(create_app(settings, loader=loader), ready=True) as server:
        url = f"{server.url}/v1/tokenizers/image-patch-p16/encode"
        headers = {"Content-Type": "image/png"}
        assert httpx.post(url, content=png(32, 32), headers=headers).status_code == 200
        started = time.perf_counter()
        big = httpx.post(url, content=png(256, 256), headers=headers)
        elapsed = time.perf_counter() - started
        assert httpx.post(url, content=png(64, 64), headers=headers).status_code == 200  # 80 ms
    assert big.status_code == 413 and "over the request timeout of 1 s" in big.json()["detail"]
    assert elapsed < 0.5
