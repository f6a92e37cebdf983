"""``tzoo bench service``: bounded load on the REST service over loopback.

Phases, each against a fresh ``tzoo serve`` process on 127.0.0.1 and each bounded in
time (and count); the compared ones run interleaved ``repeats`` times, so drifting load
from other work on the machine hits both sides alike. Measured: the per-request overhead
of the service over an in-process ``tz.load(...).encode`` on the same PNG bytes (the
SDK's client, sequential, npy transport, in pairs with the in-process call); ``--clients``
concurrent clients with dynamic batching on and off (``--max-batch-size 1``); JSON vs
npy transport; and a soak run that records 5xx answers and the server's resident memory
at start and end.

Two load generators drive the concurrent phases. The bench's own (httpx, asyncio) runs
in this Python process, on the same machine as the server, so on a small CPU it takes
cores from the server. When ``wrk`` is on PATH every concurrent phase but the soak also
runs under wrk (C, one thread, see ``benchmarks/wrk.py``), which takes far less; both
sets of figures are reported, each marked with its generator. Figures are for comparing
settings on one machine.

``results.json`` and ``results.md`` are rewritten (atomically) after every phase, so an
interrupted or failing run keeps what it measured. A phase that raises is recorded as
failed, with its error, and the bench goes on with the next one; the CLI then exits 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tokenizers_zoo.benchmarks.machine import cpu_model
from tokenizers_zoo.benchmarks.wrk import find_wrk, run_wrk
from tokenizers_zoo.service.settings import ServiceSettings

OVERHEAD_REQUESTS = 300
MAX_REQUESTS_PER_PHASE = 200_000
SOAK_RSS_EVERY_S = 5.0
ACCEPT = {"npy": "application/x-npy", "json": "application/json"}
#: What a report says where a latency list or histogram holds nothing to take a quantile of.
NO_SAMPLES = "no samples"
GENERATORS = {
    "python": "the bench's Python generator (httpx, asyncio, in the bench's process)",
    "wrk": "wrk (C, one thread)",
}
WRK_NOT_FOUND = "not found on PATH"
WRK_MISSING = (
    "wrk was not found on PATH, so every load figure is from the Python generator, which "
    "shares the cores with the server (install wrk, e.g. `apt-get install wrk`, to add wrk's)"
)


@dataclass
class LoadResult:
    """One load phase. ``driver``: the load generator, ``python`` or ``wrk``. Latencies
    are ``None`` when no request was answered; ``errors_5xx`` is ``None`` under wrk, which
    counts answers that are not 2xx or 3xx (``non_2xx``) without telling their status."""

    phase: str
    driver: str
    clients: int
    transport: str
    server_args: list[str]
    seconds: float
    requests: int
    requests_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    status_counts: dict[str, int]
    non_2xx: int
    errors_5xx: int | None
    transport_errors: int
    mean_batch_size: float | None
    server_p50_ms_le: float | None
    server_p99_ms_le: float | None
    rss_mib: list[float] = field(default_factory=list)
    repeat: int | None = None
    wrk_output: str | None = None  # wrk's own report, as it printed it


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


def _python_figures(
    latencies: list[float], statuses: dict[str, int], failures: int, elapsed: float
) -> dict[str, Any]:
    """A phase's figures from what ``_load`` saw."""
    ms = sorted(x * 1e3 for x in latencies)
    return {
        "seconds": elapsed,
        "requests": len(latencies),
        "requests_per_s": len(latencies) / elapsed,
        **{f"p{q}_ms": _percentile(ms, q) for q in (50, 95, 99)},
        "status_counts": statuses,
        "non_2xx": sum(n for code, n in statuses.items() if not code.startswith("2")),
        "errors_5xx": sum(n for code, n in statuses.items() if code.startswith("5")),
        "transport_errors": failures,
    }


def _wrk_load(
    wrk: str, url: str, name: str, images: list[bytes], clients: int, seconds: float, transport: str
) -> dict[str, Any]:
    figures = run_wrk(f"{url}/v1/tokenizers/{name}/encode", images, clients, seconds, ACCEPT[transport], wrk)
    kept = ("seconds", "requests", "requests_per_s", "p50_ms", "p95_ms", "p99_ms", "non_2xx")
    return {
        **{key: figures[key] for key in kept},
        "status_counts": {},
        "errors_5xx": None,
        "transport_errors": sum(figures["socket_errors"].values()),
        "wrk_output": figures["output"],
    }


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
    wrk: str | None = None,
    repeat: int | None = None,
) -> LoadResult:
    """One phase on a fresh server; under wrk when ``wrk`` (its path) is given."""
    from tokenizers_zoo.service.local import LocalServer

    with LocalServer(["--tokenizers", name, *server_args]) as server:
        rss = [server.rss_mib()]
        tick = (lambda: rss.append(server.rss_mib())) if track_rss else None
        if wrk:
            load = _wrk_load(wrk, server.url, name, images, clients, seconds, transport)
        else:
            seen = _load(server.url, name, images, clients, seconds, transport, max_requests, tick)
            load = _python_figures(*asyncio.run(seen))
        rss.append(server.rss_mib())
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    result = LoadResult(
        phase=phase,
        driver="wrk" if wrk else "python",
        clients=clients,
        transport=transport,
        server_args=server_args,
        **{**load, "seconds": round(load["seconds"], 2)},
        mean_batch_size=_mean_batch_size(metrics, name),
        server_p50_ms_le=_server_latency_le(metrics, 0.50),
        server_p99_ms_le=_server_latency_le(metrics, 0.99),
        rss_mib=[round(r, 1) for r in (rss if track_rss else [rss[0], rss[-1]])],
        repeat=repeat,
    )
    print(_format(asdict(result)), flush=True)
    return result


def _percentile(sorted_ms: list[float], q: float) -> float | None:
    """The ``q`` percentile of ``sorted_ms``; ``None`` when it is empty (no samples)."""
    if not sorted_ms:
        return None
    index = min(len(sorted_ms) - 1, max(0, round(q / 100 * (len(sorted_ms) - 1))))
    return sorted_ms[index]


def _cell(value: float | None, fmt: str = "{:.1f}") -> str:
    """A latency for a report: ``no samples`` where there were none to measure."""
    return NO_SAMPLES if value is None else fmt.format(value)


def _non_2xx(p: dict[str, Any]) -> str:
    """How many answers were not 2xx, with their statuses where the generator tells them."""
    others = {code: n for code, n in p["status_counts"].items() if not code.startswith("2")}
    return f"{p['non_2xx']}" + (f" ({', '.join(f'{k}: {v}' for k, v in others.items())})" if others else "")


def _format(p: dict[str, Any]) -> str:
    """The line printed for a phase (``p``: a ``LoadResult`` as a dict)."""
    latency = "  ".join(f"p{q} {_cell(p[f'p{q}_ms'], '{:7.1f}')}" for q in (50, 95, 99)) + " ms"
    if p["p50_ms"] is None:
        latency = f"latency: {NO_SAMPLES}"
    batch = f"{p['mean_batch_size']:.1f}" if p["mean_batch_size"] else "-"
    server = [_cell(p[f"server_{q}_ms_le"], "{:g}") for q in ("p50", "p99")]
    return (
        f"{p['phase']:<14} {p['driver']:<6} {p['clients']:>3} clients {p['transport']:<4} "
        f"{p['requests_per_s']:8.1f} req/s  {latency}  (in server p50 <= {server[0]}, "
        f"p99 <= {server[1]} ms)  batch {batch:>5}  non-2xx {_non_2xx(p)}  "
        f"conn errors {p['transport_errors']}  RSS {p['rss_mib'][0]:.0f} -> {p['rss_mib'][-1]:.0f} MiB"
    )


def batching_speedups(phases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per load generator: requests/s with batching on over off, for every repeat in which
    both phases ran (a failed phase leaves its repeat out), and their median."""
    speedups: dict[str, dict[str, Any]] = {}
    for driver in GENERATORS:
        runs = {
            (p["phase"], p["repeat"]): p["requests_per_s"]
            for p in phases
            if p["driver"] == driver and p["repeat"] is not None
        }
        repeats = sorted({repeat for _, repeat in runs})
        ratios = [
            runs[("batching-on", r)] / runs[("batching-off", r)]
            for r in repeats
            if runs.get(("batching-on", r)) is not None and runs.get(("batching-off", r))
        ]
        if runs:
            speedups[driver] = {"median": statistics.median(ratios) if ratios else None, "per_repeat": ratios}
    return speedups


def run_service_benchmark(
    tokenizer: str | None = None,
    size: int = 128,
    clients: int = 32,
    seconds: float = 10.0,
    soak_seconds: float = 60.0,
    out_dir: str | None = None,
    torch_threads: int = 0,
    repeats: int = 3,
    use_wrk: bool = True,
) -> dict[str, Any]:
    """Run every phase, writing the report after each one to ``out_dir``; returns the
    report, whose ``failures`` list the phases that raised (the CLI then exits 1).
    ``use_wrk=False`` drives the load with the Python generator alone, wrk or not."""
    name = pick_tokenizer(tokenizer)
    images = test_images(size)
    wrk = find_wrk() if use_wrk else None
    load_before = os.getloadavg()
    report: dict[str, Any] = {
        "status": "running",
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": load_before,
        },
        "torch_threads": torch_threads or "torch default",
        "tokenizer": name,
        "image_size": size,
        "clients": clients,
        "seconds_per_phase": seconds,
        "repeats": repeats,
        "wrk": wrk or WRK_NOT_FOUND,
        "in_process_ms": None,
        "sequential": None,
        "batching_speedup": {},
        "phases": [],
        "failures": [],
    }
    out = Path(out_dir) if out_dir else None

    def save() -> None:
        report["machine"]["load_average_after"] = os.getloadavg()
        report["batching_speedup"] = batching_speedups(report["phases"])
        if out is not None:
            _write(report, out)

    def step(label: str, measure: Callable[[], Any], keep: Callable[[Any], None]) -> None:
        """Run one phase and keep its result, or record it as failed and go on; then save."""
        try:
            keep(measure())
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            report["failures"].append({"phase": label, "error": error})
            print(f"{label}: failed: {error}", flush=True)
        finally:
            save()

    print(f"tokenizer {name}, {size}x{size} PNGs, {clients} clients, {seconds:g} s per phase", flush=True)
    print(f"load average before: {_loads(load_before)}", flush=True)
    print(f"load generators: python{', wrk ' + wrk if wrk else f'; {WRK_MISSING}'}", flush=True)
    common = ["--torch-threads", str(torch_threads)] if torch_threads else []
    unbatched = [*common, "--max-batch-size", "1"]
    batch_size = min(clients, ServiceSettings().max_batch_size)

    def in_process() -> dict[str, float]:
        local = in_process_ms(name, images, OVERHEAD_REQUESTS, torch_threads, batch_size)
        print(
            f"in-process: PNG decode + encode {local['decode_png_and_encode_ms']:.2f} ms median, "
            f"encode alone {local['encode_only_ms']:.2f} ms, in batches of {batch_size} "
            f"{local['batched_encode_ms_per_image']:.2f} ms per image",
            flush=True,
        )
        return local

    def load(phase: str, args: list[str], transport: str, driver: str, **options: Any) -> None:
        repeat = options.get("repeat")
        label = f"{phase} ({driver}, {transport}" + ("" if repeat is None else f", repeat {repeat + 1}") + ")"
        length = options.pop("seconds", seconds)
        generator = wrk if driver == "wrk" else None
        step(
            label,
            lambda: _phase(phase, name, images, args, clients, length, transport, wrk=generator, **options),
            lambda result: report["phases"].append(asdict(result)),
        )

    drivers = ["python", "wrk"] if wrk else ["python"]
    try:
        step("in-process", in_process, lambda local: report.update(in_process_ms=local))
        step(
            "sequential",
            lambda: paired_overhead_ms(name, images, common, OVERHEAD_REQUESTS, torch_threads),
            lambda overhead: report.update(sequential=overhead),
        )
        # On a shared machine the load drifts: the phases being compared run interleaved, and
        # the figures are medians over the repeats.
        for repeat in range(repeats):
            for driver in drivers:
                load("batching-on", common, "npy", driver, repeat=repeat)
                load("batching-off", unbatched, "npy", driver, repeat=repeat)
        for driver in drivers:
            load("batching-on", common, "json", driver)
        if soak_seconds > 0:
            load("soak", common, "npy", "python", seconds=soak_seconds, track_rss=True)
        failed = len(report["failures"])
        report["status"] = (
            f"complete, {failed} phase{'s' if failed > 1 else ''} failed" if failed else "complete"
        )
    except BaseException:
        report["status"] = "interrupted"
        raise
    finally:
        save()
    if report["sequential"]:
        overhead = report["sequential"]["overhead_ms_median"]
        print(f"service overhead (npy, median of paired differences): {overhead:.2f} ms")
    for driver, speedup in report["batching_speedup"].items():
        print(f"batching on / off at {clients} clients, {driver}: {_speedup(speedup)}", flush=True)
    if report["failures"]:
        print(f"failed: {', '.join(f['phase'] for f in report['failures'])}", flush=True)
    return report


def _speedup(speedup: dict[str, Any]) -> str:
    if speedup["median"] is None:
        return "not measured (no repeat with both phases)"
    per_repeat = ", ".join(f"{r:.2f}" for r in speedup["per_repeat"])
    return f"{speedup['median']:.2f}x requests/s (median; per repeat {per_repeat})"


def _loads(averages: list[float]) -> str:
    return " / ".join(f"{x:.2f}" for x in averages)


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` whole: whoever reads it (or a crash mid-write) never sees half a file.
    The temporary file is opened as any other (so the umask gives it the usual mode) next to
    ``path``, since a rename is atomic only within one file system."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _not_measured(report: dict[str, Any], label: str) -> str:
    errors = [f["error"] for f in report["failures"] if f["phase"] == label]
    return f"failed ({errors[0]})" if errors else "not measured yet"


def _write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _write_atomically(out / "results.json", json.dumps(report, indent=2) + "\n")
    _write_atomically(out / "results.md", markdown(report))


def markdown(report: dict[str, Any]) -> str:
    """``results.md`` for what has run so far."""
    m = report["machine"]
    local = report["in_process_ms"]
    seq = report["sequential"]
    lines = [
        f"# tzoo bench service: {report['tokenizer']}, {report['image_size']}x{report['image_size']} PNGs",
        "",
        f"Status: {report['status']}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; load generator and server share them (loopback). "
        f"Load average (1, 5, 15 min; other work shares the machine) before "
        f"{_loads(m['load_average_before'])}, after {_loads(m['load_average_after'])}. "
        f"torch threads: {report['torch_threads']}.",
        "",
    ]
    if local:
        lines.append(
            f"- In-process (PNG decode + encode): {local['decode_png_and_encode_ms']:.2f} ms median; "
            f"encode alone {local['encode_only_ms']:.2f} ms; in batches of {local['batch_size']}, "
            f"{local['batched_encode_ms_per_image']:.2f} ms per image, so batching can give at most "
            f"{local['encode_only_ms'] / local['batched_encode_ms_per_image']:.2f}x requests/s on this "
            "machine (more on hardware where an image costs less in a batch, such as a GPU)."
        )
    else:
        lines.append(f"- In-process: {_not_measured(report, 'in-process')}.")
    if seq:
        lines.append(
            f"- Service overhead over in-process, npy, one sequential client (the SDK's `Client`): "
            f"{seq['overhead_ms_median']:.2f} ms per request, the median of {seq['pairs']} paired "
            f"differences (each pair: one request, one in-process PNG decode + encode, back to back). "
            f"Served p50 / p95 / p99 {seq['served_p50_ms']:.1f} / {seq['served_p95_ms']:.1f} / "
            f"{seq['served_p99_ms']:.1f} ms; in-process p50 {seq['in_process_p50_ms']:.1f} ms."
        )
    else:
        lines.append(f"- Service overhead: {_not_measured(report, 'sequential')}.")
    for driver, speedup in report["batching_speedup"].items():
        repeats = f"{len(speedup['per_repeat'])} of {report['repeats']} interleaved repeats"
        lines.append(f"- Batching on / off, {GENERATORS[driver]}: {_speedup(speedup)}, over {repeats}.")
    generators = "; ".join(f"`{driver}`: {text}" for driver, text in GENERATORS.items())
    lines += [
        "",
        f"Load generator column: {generators}. The Python generator takes cores from the server "
        "on a small machine; wrk takes far less, so its figures come closer to what the server "
        "can do. wrk runs every concurrent phase but the soak; it counts answers that are not "
        "2xx or 3xx without telling their status, and its p95 comes from the bench's wrk script."
        if report["wrk"] != WRK_NOT_FOUND
        else f"Load generator column: {GENERATORS['python']}. {WRK_MISSING}.",
        "",
        "Latencies are seen by the clients; 'in server' is the bucket bound of the service's own"
        f" request-duration histogram (time inside the app, without the load generator's delays);"
        f" '{NO_SAMPLES}' where no request was answered.",
        "",
        "| phase | load generator | clients | transport | server flags | req/s | p50 ms | p95 ms | p99 ms "
        "| in server p50 / p99 ms (<=) | mean batch | non-2xx | conn errors | RSS MiB start -> end |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in report["phases"]:
        batch = f"{p['mean_batch_size']:.1f}" if p["mean_batch_size"] else "-"
        server = f"{_cell(p['server_p50_ms_le'], '{:g}')} / {_cell(p['server_p99_ms_le'], '{:g}')}"
        client = " | ".join(_cell(p[f"p{q}_ms"]) for q in (50, 95, 99))
        lines.append(
            f"| {p['phase']} ({p['seconds']:g} s) | {p['driver']} | {p['clients']} | {p['transport']} | "
            f"{' '.join(p['server_args']) or 'defaults'} | {p['requests_per_s']:.1f} | {client} | "
            f"{server} | {batch} | {_non_2xx(p)} | "
            f"{p['transport_errors']} | {p['rss_mib'][0]:.0f} -> {p['rss_mib'][-1]:.0f} |"
        )
    if report["failures"]:
        lines += ["", "Failed phases (the bench went on; `tzoo bench service` exits with status 1):", ""]
        lines += [f"- {f['phase']}: {f['error']}" for f in report["failures"]]
    return "\n".join(lines) + "\n"
