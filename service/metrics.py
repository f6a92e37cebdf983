"""Prometheus metrics of one service process, and the ASGI middleware that counts requests.

Each app gets its own registry, so several apps in one process (tests) do not collide.
With ``--workers N`` every worker exposes its own figures; scrape them through the
load balancer and sum, as with any multi-process Python exporter.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tzoo_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "tzoo_request_duration_seconds",
            "Time from request to response, by route template (encode and decode latency)",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "tzoo_queue_depth", "Requests waiting for a batch", ["tokenizer"], registry=self.registry
        )
        self.memory_reserved = Gauge(
            "tzoo_memory_reserved_bytes",
            "Memory budget held by requests in flight (service/memory.py)",
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "tzoo_batch_size",
            "Items per model call",
            ["tokenizer", "op"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "tzoo_batch_duration_seconds",
            "Time of one batched model call",
            ["tokenizer", "op"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rejected = Counter(
            "tzoo_rejected_requests",
            "Requests dropped before they ran: queue full, timed out, client gone",
            ["tokenizer", "reason"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetricsMiddleware:
    """Counts every HTTP request by method, route template (not the raw path, which would
    make one series per tokenizer name typo) and status, and times it."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app dies before answering

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.request_seconds.labels(scope["method"], route).observe(time.perf_counter() - started)
