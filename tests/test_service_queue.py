"""Dynamic batching, overload, timeouts, disconnects, readiness and graceful shutdown, over
real HTTP, made deterministic by a tokenizer whose encode is held until the test releases it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest
from service_helpers import (
    HeldPatchTokenizer,
    assert_problem,
    held_loader,
    image_name,
    metric,
    png,
    running,
    wait_until,
)

from tokenizers_zoo.errors import WeightsNotFoundError
from tokenizers_zoo.service.app import create_app
from tokenizers_zoo.service.settings import ServiceSettings

NAME = image_name()  # served under this name; the held loader supplies the model
ENCODE = f"/v1/tokenizers/{NAME}/encode"
PNG_HEADERS = {"Content-Type": "image/png"}


def _held_app(**settings: object) -> tuple[object, dict[str, HeldPatchTokenizer]]:
    holder: dict[str, HeldPatchTokenizer] = {}
    app = create_app(ServiceSettings(tokenizers=(NAME,), **settings), loader=held_loader(holder))
    return app, holder


async def _post_many(url: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await asyncio.gather(
            *(client.post(ENCODE, content=png(seed=i), headers=PNG_HEADERS) for i in range(count))
        )


def _in_thread(target, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    """Run ``target`` on a thread; its return value lands in the returned list."""
    results: list = []
    thread = threading.Thread(target=lambda: results.append(target(*args, **kwargs)), daemon=True)
    thread.start()
    return thread, results


def _post_one(url: str) -> tuple[threading.Thread, list]:
    return _in_thread(httpx.post, f"{url}{ENCODE}", content=png(), headers=PNG_HEADERS, timeout=30)


def test_requests_queued_behind_a_running_batch_run_as_one_batch_and_overflow_gets_429() -> None:
    app, holder = _held_app(max_batch_size=8, max_queue=4)
    with running(app) as server:
        url = server.url
        first, first_result = _post_one(url)
        wait_until(holder[NAME].running.is_set)  # the first batch (1 item) holds the model
        queued, queued_results = _in_thread(lambda: asyncio.run(_post_many(url, 4)))
        wait_until(lambda: metric(url, "tzoo_queue_depth", tokenizer=NAME) == 4)
        overflow = httpx.post(f"{url}{ENCODE}", content=png(), headers=PNG_HEADERS)
        assert_problem(overflow, 429, "overloaded")
        assert int(overflow.headers["retry-after"]) >= 1
        assert metric(url, "tzoo_rejected_requests_total", tokenizer=NAME, reason="queue_full") == 1
        holder[NAME].release()
        first.join(30)
        queued.join(30)
        assert first_result[0].status_code == 200
        assert [r.status_code for r in queued_results[0]] == [200] * 4
        labels = {"tokenizer": NAME, "op": "encode"}
        assert metric(url, "tzoo_batch_size_count", **labels) == 2  # 1 + 4: the queue ran as one batch
        assert metric(url, "tzoo_batch_size_sum", **labels) == 5
        assert metric(url, "tzoo_batch_size_bucket", le="1.0", **labels) == 1


def test_a_request_whose_client_disconnects_leaves_the_queue() -> None:
    app, holder = _held_app()
    with running(app) as server:
        url, port = server.url, server.config.port
        first, _ = _post_one(url)
        wait_until(holder[NAME].running.is_set)
        body = png(seed=9)
        head = f"POST {ENCODE} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        head += f"Content-Length: {len(body)}\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(head.encode() + body)
            wait_until(lambda: metric(url, "tzoo_queue_depth", tokenizer=NAME) == 1)
        wait_until(
            lambda: metric(url, "tzoo_rejected_requests_total", tokenizer=NAME, reason="disconnected") == 1
        )
        assert metric(url, "tzoo_queue_depth", tokenizer=NAME) == 0
        holder[NAME].release()
        first.join(30)
        time.sleep(0.2)
        assert metric(url, "tzoo_batch_size_sum", tokenizer=NAME, op="encode") == 1  # only the first ran


def test_request_timeout_is_503_with_retry_after() -> None:
    app, holder = _held_app(request_timeout_s=0.3)
    with running(app) as server:
        answer = httpx.post(f"{server.url}{ENCODE}", content=png(), headers=PNG_HEADERS, timeout=30)
        assert_problem(answer, 503, "timeout")
        assert answer.headers["retry-after"] == "1"
        holder[NAME].release()


def test_not_ready_while_loading_then_ready() -> None:
    loading = threading.Event()
    loaded = threading.Event()

    def slow_loader(name: str, device: str, weights: object) -> HeldPatchTokenizer:
        loading.set()
        loaded.wait(30)
        tokenizer = HeldPatchTokenizer(name)
        tokenizer.release()
        return tokenizer

    app = create_app(ServiceSettings(tokenizers=(NAME,)), loader=slow_loader)
    with running(app) as server, httpx.Client(base_url=server.url) as http:
        wait_until(loading.is_set)
        assert http.get("/healthz").status_code == 200
        ready = http.get("/readyz")
        body = assert_problem(ready, 503, "not-ready")
        assert body["tokenizers"] == {NAME: "loading"} and ready.headers["retry-after"] == "1"
        encode = http.post(ENCODE, content=png(), headers=PNG_HEADERS)
        assert_problem(encode, 503, "not-ready")
        assert encode.headers["retry-after"] == "1"
        loaded.set()
        wait_until(lambda: http.get("/readyz").status_code == 200)
        assert http.post(ENCODE, content=png(), headers=PNG_HEADERS).status_code == 200


def test_a_tokenizer_that_fails_to_load_keeps_the_service_unready() -> None:
    def missing(name: str, device: str, weights: object) -> HeldPatchTokenizer:
        raise WeightsNotFoundError(f"{name}: weights file /nowhere/model.safetensors not found")

    app = create_app(ServiceSettings(tokenizers=(NAME,)), loader=missing)
    with running(app) as server, httpx.Client(base_url=server.url) as http:
        wait_until(lambda: "failed" in http.get("/readyz").text)
        ready = http.get("/readyz")
        body = assert_problem(ready, 503, "not-ready")
        assert "retry-after" not in ready.headers  # waiting does not clear a failed load
        assert "failed to load" in body["detail"] and "model.safetensors not found" in body["errors"][NAME]
        # It is served, but broken: 503 with the reason, not 404 "unknown"; no server paths.
        answer = http.get(f"/v1/tokenizers/{NAME}")
        detail = assert_problem(answer, 503, "not-ready")["detail"]
        assert "failed to load" in detail and "model.safetensors not found" in detail
        assert "retry-after" not in answer.headers
        assert "/nowhere" not in ready.text + answer.text


@pytest.mark.slow
def test_graceful_shutdown_finishes_in_flight_requests() -> None:
    app, holder = _held_app()
    with running(app) as server:
        url = server.url
        flight, results = _in_thread(lambda: asyncio.run(_post_many(url, 3)))
        wait_until(holder[NAME].running.is_set)
        server.should_exit = True  # what SIGTERM sets
        time.sleep(0.3)
        holder[NAME].release()
        flight.join(30)
        server.thread.join(30)
        assert [r.status_code for r in results[0]] == [200, 200, 200]
        assert not server.thread.is_alive()
