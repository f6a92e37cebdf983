"""``tzoo bench service``: bounded load on the REST service over loopback.

Phases, each against a fresh ``tzoo serve`` process on 127.0.0.1 and each bounded in
time (and count); the compared ones run interleaved ``repeats`` times, so drifting load
from other work on the machine hits both sides alike. Measured: the per-request overhead
of the service over an in-process ``tz.load(...).encode`` on the same PNG bytes (the
SDK's client, sequential, npy transport, in pairs with the in-process call); ``--clients``
concurrent clients with dynamic batching on and off (``--max-batch-size 1``); JSON vs
npy transport; and a soak run that records 5xx answers and the server's resident memory
at start and end. The load
generator (httpx, asyncio) runs on the same machine as the server, so on a small CPU it
takes cores from the server: figures are for comparing settings on one machine.
"""

from __future__ import annotations

import asyncio
import json
import platform
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tokenizers_zoo.benchmarks.machine import cpu_model
from tokenizers_zoo.service.settings import ServiceSettings

OVERHEAD_REQUESTS = 300
MAX_REQUESTS_PER_PHASE = 200_000
SOAK_RSS_EVERY_S = 5.0


@dataclass
class LoadResult:
    phase: str
    clients: int
    transport: str
    server_args: list[str]
    seconds: float
    requests: int
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    status_counts: dict[str, int]
    errors_5xx: int
    transport_errors: int
    mean_batch_size: float | None
    server_p50_ms_le: float | None
    server_p99_ms_le: float | None
    rss_mib: list[float] = field(default_factory=list)


def pick_tokenizer(name: str | None) -> str:
    """The given name, else the default discrete image tokenizer, else the default
    continuous one, else any image tokenizer."""
    import tokenizers_zoo as tz

    if name:
        tz.get_entry(name)
        return name
    for kind in ("discrete", "continuous"):
        try:
            return tz.default_tokenizer("image", kind)
        except tz.UnknownTokenizerError:
            continue
    images = tz.list_tokenizers("image")
    if not images:
        raise tz.UnknownTokenizerError("no image tokenizer is registered")
    return images[0]


def test_images(size: int, count: int = 8) -> list[bytes]:
    """Deterministic ``size`` x ``size`` PNGs: gradients plus noise, so they compress like photos."""
    from tokenizers_zoo.media.image import write_image

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, size)
    images = []
    for i in range(count):
        base = (ramp[:, None, None] * (i + 1) / count + ramp[None, :, None] * 0.5) % 256
        noisy = base + rng.normal(0, 12, (size, size, 3))
        images.append(write_image(np.clip(noisy, 0, 255).astype(np.uint8)))
    return images


def _local_tokenizer(name: str, torch_threads: int) -> Any:
    import torch

    import tokenizers_zoo as tz

    if torch_threads:
        torch.set_num_threads(torch_threads)
    return tz.load(name)


def in_process_ms(
    name: str, images: list[bytes], repeats: int, torch_threads: int, batch_size: int = 1
) -> dict[str, float]:
    """Median ms of the in-process path on the same bytes: PNG decode + encode (what the service
    does per request), encode alone, and encode per image in batches of ``batch_size``: the
    most dynamic batching can give on this machine is ``encode_only / batched``, since the
    service runs the same call."""
    from tokenizers_zoo.media.image import read_image

    tok = _local_tokenizer(name, torch_threads)
    pixels = [read_image(png) for png in images]
    tok.encode(pixels[0])  # warm-up
    with_decode, encode_only = [], []
    for i in range(repeats):
        start = time.perf_counter()
        tok.encode(read_image(images[i % len(images)])).data.numpy()
        with_decode.append(time.perf_counter() - start)
        start = time.perf_counter()
        tok.encode(pixels[i % len(pixels)]).data.numpy()
        encode_only.append(time.perf_counter() - start)
    batch = [pixels[i % len(pixels)] for i in range(batch_size)]
    batched = []
    for _ in range(max(3, repeats // (4 * batch_size))):
        start = time.perf_counter()
        tok.encode(batch).data.numpy()
        batched.append((time.perf_counter() - start) / batch_size)
    return {
        "decode_png_and_encode_ms": statistics.median(with_decode) * 1e3,
        "encode_only_ms": statistics.median(encode_only) * 1e3,
        "batch_size": batch_size,
        "batched_encode_ms_per_image": statistics.median(batched) * 1e3,
    }


def paired_overhead_ms(
    name: str, images: list[bytes], server_args: list[str], pairs: int, torch_threads: int
) -> dict[str, Any]:
    """What one request through the service costs over the same work in-process, from
    ``pairs`` back-to-back pairs: the SDK's ``Client.encode`` of the PNG bytes (npy
    transport, one connection, no retries) and an in-process PNG decode + encode. Pairs
    alternate which side goes first. On a shared machine the speed drifts by several ms
    over minutes, more than the overhead itself; within a pair both sides see the same
    machine, so the median of the differences measures the service and not the drift."""
    from tokenizers_zoo.media.image import read_image
    from tokenizers_zoo.service.client import Client
    from tokenizers_zoo.service.local import LocalServer

    tok = _local_tokenizer(name, torch_threads)

    def local(png: bytes) -> float:
        start = time.perf_counter()
        tok.encode(read_image(png)).data.numpy()
        return time.perf_counter() - start

    with (
        LocalServer(["--tokenizers", name, *server_args]) as server,
        Client(server.url, retries=0) as client,
    ):

        def served(png: bytes) -> float:
            start = time.perf_counter()
            client.encode(name, png, content_type="image/png")
            return time.perf_counter() - start

        for png in images[:4]:  # warm-up: first calls allocate and fill caches
            local(png), served(png)
        local_s, served_s = [], []
        for i in range(pairs):
            png = images[i % len(images)]
            if i % 2:
                served_s.append(served(png))
                local_s.append(local(png))
            else:
                local_s.append(local(png))
                served_s.append(served(png))
    ms = sorted(x * 1e3 for x in served_s)
    differences = [(s - x) * 1e3 for s, x in zip(served_s, local_s, strict=True)]
    result = {
        "pairs": pairs,
        "server_args": server_args,
        "served_p50_ms": _percentile(ms, 50),
        "served_p95_ms": _percentile(ms, 95),
        "served_p99_ms": _percentile(ms, 99),
        "in_process_p50_ms": statistics.median(local_s) * 1e3,
        "overhead_ms_median": statistics.median(differences),
    }
    print(
        f"sequential, {pairs} pairs (SDK client, npy): served p50 {result['served_p50_ms']:.2f} "
        f"p95 {result['served_p95_ms']:.2f} p99 {result['served_p99_ms']:.2f} ms; in-process p50 "
        f"{result['in_process_p50_ms']:.2f} ms; overhead (median of paired differences) "
        f"{result['overhead_ms_median']:.2f} ms",
        flush=True,
    )
    return result


async def _load(
    url: str,
    name: str,
    images: list[bytes],
    clients: int,
    seconds: float,
    transport: str,
    max_requests: int,
    on_tick: Any = None,
) -> tuple[list[float], dict[str, int], int, float]:
    """``clients`` loops posting images until ``seconds`` pass or ``max_requests`` are sent."""
    accept = "application/x-npy" if transport == "npy" else "application/json"
    headers = {"Content-Type": "image/png", "Accept": accept}
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    failures = 0
    sent = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        start = time.perf_counter()
        end = start + seconds

        async def client(index: int) -> None:
            nonlocal failures, sent
            i = index
            while time.perf_counter() < end and sent < max_requests:
                sent += 1
                t0 = time.perf_counter()
                try:
                    response = await http.post(
                        f"/v1/tokenizers/{name}/encode", content=images[i % len(images)], headers=headers
                    )
                    await response.aread()
                except httpx.HTTPError:
                    failures += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1
                i += 1

        tasks = [asyncio.create_task(client(i)) for i in range(clients)]
        if on_tick is not None:
            while not all(t.done() for t in tasks):
                await asyncio.sleep(SOAK_RSS_EVERY_S)
                on_tick()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return latencies, statuses, failures, elapsed


def _server_latency_le(metrics: str, q: float) -> float | None:
    """Upper bound (ms) of the histogram bucket holding the server-side ``q`` quantile of
    encode requests: the time inside the service, without the load generator's own delays."""
    route = 'route="/v1/tokenizers/{name}/encode"'
    buckets = []
    for line in metrics.splitlines():
        if line.startswith("tzoo_request_duration_seconds_bucket{") and route in line:
            bound = re.search(r'le="([^"]+)"', line).group(1)  # type: ignore[union-attr]
            buckets.append((float(bound), float(line.rsplit(" ", 1)[1])))
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    return next(bound * 1e3 for bound, count in buckets if count >= q * total)


def _mean_batch_size(text: str, name: str) -> float | None:
    label = f'op="encode",tokenizer="{name}"'
    sums = re.search(rf"tzoo_batch_size_sum\{{{label}\}} (\S+)", text)
    counts = re.search(rf"tzoo_batch_size_count\{{{label}\}} (\S+)", text)
    if not (sums and counts) or float(counts.group(1)) == 0:
        return None
    return float(sums.group(1)) / float(counts.group(1))


def _phase(
    phase: str,
    name: str,
    images: list[bytes],
    server_args: list[str],
    clients: int,
    seconds: float,
    transport: str,
    max_requests: int = MAX_REQUESTS_PER_PHASE,
    track_rss: bool = False,
) -> LoadResult:
    from tokenizers_zoo.service.local import LocalServer

    with LocalServer(["--tokenizers", name, *server_args]) as server:
        rss = [server.rss_mib()]
        tick = (lambda: rss.append(server.rss_mib())) if track_rss else None
        latencies, statuses, failures, elapsed = asyncio.run(
            _load(server.url, name, images, clients, seconds, transport, max_requests, tick)
        )
        rss.append(server.rss_mib())
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    ms = sorted(x * 1e3 for x in latencies) or [float("nan")]
    result = LoadResult(
        phase=phase,
        clients=clients,
        transport=transport,
        server_args=server_args,
        seconds=round(elapsed, 2),
        requests=len(latencies),
        requests_per_s=len(latencies) / elapsed,
        p50_ms=_percentile(ms, 50),
        p95_ms=_percentile(ms, 95),
        p99_ms=_percentile(ms, 99),
        status_counts=statuses,
        errors_5xx=sum(n for code, n in statuses.items() if code.startswith("5")),
        transport_errors=failures,
        mean_batch_size=_mean_batch_size(metrics, name),
        server_p50_ms_le=_server_latency_le(metrics, 0.50),
        server_p99_ms_le=_server_latency_le(metrics, 0.99),
        rss_mib=[round(r, 1) for r in (rss if track_rss else [rss[0], rss[-1]])],
    )
    print(_format(result), flush=True)
    return result


def _percentile(sorted_ms: list[float], q: float) -> float:
    index = min(len(sorted_ms) - 1, max(0, round(q / 100 * (len(sorted_ms) - 1))))
    return sorted_ms[index]


def _format(r: LoadResult) -> str:
    batch = f"{r.mean_batch_size:.1f}" if r.mean_batch_size else "-"
    return (
        f"{r.phase:<14} {r.clients:>3} clients {r.transport:<4} {r.requests_per_s:8.1f} req/s  "
        f"p50 {r.p50_ms:7.1f}  p95 {r.p95_ms:7.1f}  p99 {r.p99_ms:7.1f} ms  "
        f"(in server p50 <= {r.server_p50_ms_le:g}, p99 <= {r.server_p99_ms_le:g} ms)  batch {batch:>5}  "
        f"5xx {r.errors_5xx}  other {dict((k, v) for k, v in r.status_counts.items() if k != '200')}  "
        f"conn errors {r.transport_errors}  RSS {r.rss_mib[0]:.0f} -> {r.rss_mib[-1]:.0f} MiB"
    )


def run_service_benchmark(
    tokenizer: str | None = None,
    size: int = 128,
    clients: int = 32,
    seconds: float = 10.0,
    soak_seconds: float = 60.0,
    out_dir: str | None = None,
    torch_threads: int = 0,
    repeats: int = 3,
) -> dict[str, Any]:
    import os

    name = pick_tokenizer(tokenizer)
    images = test_images(size)
    load_before = os.getloadavg()
    print(f"tokenizer {name}, {size}x{size} PNGs, {clients} clients, {seconds:g} s per phase", flush=True)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}", flush=True)
    batch_size = min(clients, ServiceSettings().max_batch_size)
    local = in_process_ms(name, images, OVERHEAD_REQUESTS, torch_threads, batch_size)
    common = ["--torch-threads", str(torch_threads)] if torch_threads else []
    print(
        f"in-process: PNG decode + encode {local['decode_png_and_encode_ms']:.2f} ms median, "
        f"encode alone {local['encode_only_ms']:.2f} ms, in batches of {batch_size} "
        f"{local['batched_encode_ms_per_image']:.2f} ms per image",
        flush=True,
    )
    overhead = paired_overhead_ms(name, images, common, OVERHEAD_REQUESTS, torch_threads)
    # On a shared machine the load drifts: the phases being compared run interleaved, and
    # the figures are medians over the repeats.
    batched, unbatched = [], []
    for _ in range(repeats):
        args = (name, images)
        batched.append(_phase("batching-on", *args, common, clients, seconds, "npy"))
        unbatched.append(
            _phase("batching-off", *args, [*common, "--max-batch-size", "1"], clients, seconds, "npy")
        )
    as_json = _phase("batching-on", name, images, common, clients, seconds, "json")
    phases = [*batched, *unbatched, as_json]
    if soak_seconds > 0:
        phases.append(_phase("soak", name, images, common, clients, soak_seconds, "npy", track_rss=True))
    ratios = [on.requests_per_s / off.requests_per_s for on, off in zip(batched, unbatched, strict=True)]
    ratio = statistics.median(ratios)
    print(f"service overhead (npy, median of paired differences): {overhead['overhead_ms_median']:.2f} ms")
    print(
        f"batching on / off at {clients} clients: {ratio:.2f}x requests/s "
        f"(median; per repeat {', '.join(f'{r:.2f}' for r in ratios)})",
        flush=True,
    )
    report = {
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "torch_threads": torch_threads or "torch default",
        "tokenizer": name,
        "image_size": size,
        "in_process_ms": local,
        "sequential": overhead,
        "batching_speedup": ratio,
        "batching_speedup_per_repeat": ratios,
        "repeats": repeats,
        "phases": [asdict(p) for p in phases],
    }
    if out_dir:
        _write(report, Path(out_dir))
    return report


def _loads(averages: list[float]) -> str:
    return " / ".join(f"{x:.2f}" for x in averages)


def _write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    local = report["in_process_ms"]
    seq = report["sequential"]
    lines = [
        f"# tzoo bench service: {report['tokenizer']}, {report['image_size']}x{report['image_size']} PNGs",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; load generator and server share them (loopback). "
        f"Load average (1, 5, 15 min; other work shares the machine) before "
        f"{_loads(m['load_average_before'])}, after {_loads(m['load_average_after'])}. "
        f"torch threads: {report['torch_threads']}.",
        "",
        f"- In-process (PNG decode + encode): {local['decode_png_and_encode_ms']:.2f} ms median; "
        f"encode alone {local['encode_only_ms']:.2f} ms; in batches of {local['batch_size']}, "
        f"{local['batched_encode_ms_per_image']:.2f} ms per image, so batching can give at most "
        f"{local['encode_only_ms'] / local['batched_encode_ms_per_image']:.2f}x requests/s on this "
        "machine (more on hardware where an image costs less in a batch, such as a GPU).",
        f"- Service overhead over in-process, npy, one sequential client (the SDK's `Client`): "
        f"{seq['overhead_ms_median']:.2f} ms per request, the median of {seq['pairs']} paired "
        f"differences (each pair: one request, one in-process PNG decode + encode, back to back). "
        f"Served p50 / p95 / p99 {seq['served_p50_ms']:.1f} / {seq['served_p95_ms']:.1f} / "
        f"{seq['served_p99_ms']:.1f} ms; in-process p50 {seq['in_process_p50_ms']:.1f} ms.",
        f"- Batching on / off: {report['batching_speedup']:.2f}x requests/s (median of {report['repeats']} "
        f"interleaved repeats: {', '.join(f'{r:.2f}' for r in report['batching_speedup_per_repeat'])}).",
        "",
        "Latencies are seen by the clients; 'in server' is the bucket bound of the service's own"
        " request-duration histogram (time inside the app, without the load generator's delays).",
        "",
        "| phase | clients | transport | server flags | req/s | p50 ms | p95 ms | p99 ms "
        "| in server p50 / p99 ms (<=) | mean batch | 5xx | other statuses | conn errors "
        "| RSS MiB start -> end |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in report["phases"]:
        others = {k: v for k, v in p["status_counts"].items() if k != "200"} or "-"
        batch = f"{p['mean_batch_size']:.1f}" if p["mean_batch_size"] else "-"
        lines.append(
            f"| {p['phase']} ({p['seconds']:g} s) | {p['clients']} | {p['transport']} | "
            f"{' '.join(p['server_args']) or 'defaults'} | {p['requests_per_s']:.1f} | {p['p50_ms']:.1f} | "
            f"{p['p95_ms']:.1f} | {p['p99_ms']:.1f} | "
            f"{p['server_p50_ms_le']:g} / {p['server_p99_ms_le']:g} | {batch} | {p['errors_5xx']} | "
            f"{others} | {p['transport_errors']} | {p['rss_mib'][0]:.0f} -> {p['rss_mib'][-1]:.0f} |"
        )
    (out / "results.md").write_text("\n".join(lines) + "\n")
