"""``tzoo bench service`` without a real ``tzoo serve``: a phase nobody answered, the
report written after every phase, failed phases, the wrk driver, and wrk's report parsed
from real wrk output (``tests/fixtures/wrk_*.txt``); one short real wrk run when wrk is
installed."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from service_helpers import png, running

from tokenizers_zoo.benchmarks import service
from tokenizers_zoo.benchmarks.wrk import WrkError, parse_wrk_output, run_wrk
from tokenizers_zoo.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
#: /metrics of a server that answered no encode request: no histogram buckets to read.
EMPTY_METRICS = "# HELP tzoo_requests_total Requests\n# TYPE tzoo_requests_total counter\n"


class FakeServer:
    """Stands in for ``LocalServer``: nothing listens at its address."""

    url = "http://127.0.0.1:9"

    def __init__(self, args: list[str]) -> None:
        self.args = args

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def rss_mib(self) -> float:
        return 100.0


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    from tokenizers_zoo.service import local

    monkeypatch.setattr(local, "LocalServer", FakeServer)
    monkeypatch.setattr(httpx, "get", lambda url, **kw: httpx.Response(200, text=EMPTY_METRICS))


def test_a_phase_with_no_answered_request_reports_no_samples(no_server, monkeypatch, capsys) -> None:  # noqa: ANN001
    async def every_request_failed(*args: Any) -> tuple[list[float], dict[str, int], int, float]:
        return [], {}, 7, 0.5  # no latency, no status: 7 connection errors in 0.5 s

    monkeypatch.setattr(service, "_load", every_request_failed)
    result = service._phase("batching-on", "some-tokenizer", [b"png"], [], 4, 0.5, "npy")
    assert result.requests == 0 and result.requests_per_s == 0 and result.transport_errors == 7
    assert result.p50_ms is result.p95_ms is result.p99_ms is None
    assert result.server_p50_ms_le is result.server_p99_ms_le is None
    printed = capsys.readouterr().out
    assert "latency: no samples" in printed and "in server p50 <= no samples" in printed
    json.dumps(vars(result), allow_nan=False)  # no NaN standing in for the missing quantiles


def _fake_phase(tmp_path: Path, calls: list[dict[str, Any]], fail: tuple[str, int | None] | None = None):  # noqa: ANN202
    """A ``_phase`` that first reads the report on disk (to see what was written before it),
    then returns a made-up result, or raises for the phase ``fail`` names."""

    def phase(phase: str, name: str, images, server_args, clients, seconds, transport, **options):  # noqa: ANN001, ANN003, ANN202
        on_disk = json.loads((tmp_path / "results.json").read_text())
        calls.append(
            {"phase": phase, "driver": "wrk" if options.get("wrk") else "python", "on_disk": on_disk}
        )
        if fail == (phase, options.get("repeat")):
            raise RuntimeError("the server died")
        return service.LoadResult(
            phase=phase, driver=calls[-1]["driver"], clients=clients, transport=transport,
            server_args=server_args, seconds=seconds, requests=10,
            requests_per_s=20.0 if phase == "batching-on" else 10.0, p50_ms=5.0, p95_ms=6.0, p99_ms=7.0,
            status_counts={"200": 9, "503": 1}, non_2xx=1, errors_5xx=1, transport_errors=0,
            mean_batch_size=None, server_p50_ms_le=None, server_p99_ms_le=None, rss_mib=[100.0, 120.0],
            repeat=options.get("repeat"),
        )  # fmt: skip

    return phase


SEQUENTIAL = {
    "pairs": 3,
    "server_args": [],
    "served_p50_ms": 3.0,
    "served_p95_ms": 4.0,
    "served_p99_ms": 5.0,
    "in_process_p50_ms": 2.0,
    "overhead_ms_median": 1.0,
}


def _bench(tmp_path: Path, *argv: str) -> int:
    return main(["bench", "service", "--seconds", "1", "--soak-seconds", "2", "--out", str(tmp_path), *argv])


def _no_in_process(*args: Any) -> dict[str, float]:
    raise RuntimeError("could not load the tokenizer")


def test_every_phase_is_written_as_it_ends_and_failures_do_not_stop_the_bench(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    monkeypatch.setattr(service, "in_process_ms", _no_in_process)
    monkeypatch.setattr(service, "paired_overhead_ms", lambda *args: SEQUENTIAL)
    monkeypatch.setattr(service, "_phase", _fake_phase(tmp_path, calls, fail=("batching-off", 1)))
    assert _bench(tmp_path, "--repeats", "2") == 1
    # before each phase, the report on disk held every phase before it
    assert [len(c["on_disk"]["phases"]) + len(c["on_disk"]["failures"]) - 1 for c in calls] == [
        0,
        1,
        2,
        3,
        4,
        5,
    ]
    assert calls[0]["on_disk"]["sequential"] == SEQUENTIAL and calls[0]["on_disk"]["status"] == "running"
    assert [c["phase"] for c in calls] == ["batching-on", "batching-off"] * 2 + ["batching-on", "soak"]
    report = json.loads((tmp_path / "results.json").read_text())
    assert report["status"] == "complete, 2 phases failed" and report["in_process_ms"] is None
    assert report["failures"] == [
        {"phase": "in-process", "error": "RuntimeError: could not load the tokenizer"},
        {"phase": "batching-off (python, npy, repeat 2)", "error": "RuntimeError: the server died"},
    ]
    assert len(report["phases"]) == 5 and report["wrk"] == "not found on PATH"
    assert report["batching_speedup"] == {"python": {"median": 2.0, "per_repeat": [2.0]}}
    markdown = (tmp_path / "results.md").read_text()
    assert "- In-process: failed (RuntimeError: could not load the tokenizer)." in markdown
    assert "- batching-off (python, npy, repeat 2): RuntimeError: the server died" in markdown
    assert "wrk was not found on PATH" in markdown and "| 1 (503: 1) |" in markdown
    assert "1 of 2 interleaved repeats" in markdown
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "results.md"]  # no temp files
    assert "failed: in-process, batching-off (python, npy, repeat 2)" in capsys.readouterr().out


def test_with_wrk_every_compared_phase_runs_under_both_generators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    wrk = tmp_path / "bin" / "wrk"  # found on PATH; the fake phases never run it
    wrk.parent.mkdir()
    wrk.write_text("#!/bin/sh\nexit 1\n")
    wrk.chmod(0o755)
    monkeypatch.setenv("PATH", str(wrk.parent))
    out = tmp_path / "out"
    monkeypatch.setattr(service, "in_process_ms", _no_in_process)
    monkeypatch.setattr(service, "paired_overhead_ms", lambda *args: SEQUENTIAL)
    monkeypatch.setattr(service, "_phase", _fake_phase(out, calls))
    assert _bench(out, "--repeats", "1") == 1  # the in-process step failed
    runs = [(c["phase"], c["driver"]) for c in calls]
    assert runs == [
        ("batching-on", "python"), ("batching-off", "python"), ("batching-on", "wrk"),
        ("batching-off", "wrk"), ("batching-on", "python"), ("batching-on", "wrk"), ("soak", "python"),
    ]  # fmt: skip
    report = json.loads((out / "results.json").read_text())
    assert report["wrk"] == str(wrk) and set(report["batching_speedup"]) == {"python", "wrk"}
    markdown = (out / "results.md").read_text()
    assert "Batching on / off, wrk (C, one thread): 2.00x" in markdown
    assert "Batching on / off, the bench's Python generator" in markdown
    assert "| batching-on (1 s) | wrk |" in markdown and "wrk was not found" not in markdown


def test_results_are_replaced_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "results.json"
    path.write_text("the previous phase's report")

    def disk_full(src: str, dst: str) -> None:
        raise OSError("no space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(service.os, "replace", disk_full)
        with pytest.raises(OSError, match="no space"):
            service._write_atomically(path, "half a report")
    assert path.read_text() == "the previous phase's report" and list(tmp_path.iterdir()) == [path]
    service._write_atomically(path, "the next report")
    assert path.read_text() == "the next report" and list(tmp_path.iterdir()) == [path]
    plain = tmp_path.parent / f"{tmp_path.name}-plain"
    plain.write_text("written the usual way")
    assert path.stat().st_mode == plain.stat().st_mode  # not a temporary file's 0600


# -- wrk ------------------------------------------------------------------------------------


def test_wrk_report_with_non_2xx_answers() -> None:
    # wrk 4.1.0 posting two bodies to a small http.server that answered every 10th with 503
    figures = parse_wrk_output((FIXTURES / "wrk_non_2xx.txt").read_text())
    assert figures == {
        "requests": 317,
        "seconds": 2.0,
        "requests_per_s": 158.40,
        "p50_ms": 44.0,
        "p75_ms": 44.03,
        "p90_ms": 47.89,
        "p95_ms": 47.984,
        "p99_ms": 49.21,
        "non_2xx": 32,
        "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
    }


def test_wrk_report_with_socket_errors_and_microseconds() -> None:
    # a server answering in microseconds, every 50th a 500, every 97th after wrk's 1 s timeout
    figures = parse_wrk_output((FIXTURES / "wrk_socket_errors.txt").read_text())
    assert figures["requests"] == 765 and figures["seconds"] == pytest.approx(3.01)
    assert figures["p50_ms"] == pytest.approx(0.031) and figures["p95_ms"] == pytest.approx(0.168)
    assert figures["p99_ms"] == pytest.approx(2.6) and figures["requests_per_s"] == pytest.approx(254.03)
    assert figures["non_2xx"] == 16
    assert figures["socket_errors"] == {"connect": 0, "read": 0, "write": 0, "timeout": 5}


def test_wrk_report_with_latencies_in_seconds() -> None:
    # a server taking 1.1 to 1.3 s an answer, and a 503 for every 10th: wrk pads "1.24s "
    figures = parse_wrk_output((FIXTURES / "wrk_seconds.txt").read_text())
    assert (figures["requests"], figures["non_2xx"], figures["requests_per_s"]) == (22, 3, 5.49)
    assert [figures[f"p{q}_ms"] for q in (50, 75, 90, 99)] == pytest.approx([1240, 1300, 1340, 1350])
    assert figures["p95_ms"] == pytest.approx(1343.922)


def test_wrk_report_of_a_server_that_never_answered_has_no_samples() -> None:
    figures = parse_wrk_output((FIXTURES / "wrk_no_answers.txt").read_text())
    assert figures["requests"] == 0 and figures["requests_per_s"] == 0
    assert all(figures[f"p{q}_ms"] is None for q in (50, 75, 90, 95, 99))  # wrk prints 0.00us


def test_output_without_a_wrk_report_is_an_error() -> None:
    with pytest.raises(WrkError, match="unable to connect"):
        parse_wrk_output("unable to connect to 127.0.0.1:9 Connection refused\n")


@contextlib.contextmanager
def _png_endpoint() -> Iterator[str]:
    """A tiny server answering 200 to a POST of a PNG that asks for npy, 415 otherwise,
    and 503 to every 5th request."""
    app = FastAPI()
    seen = []

    @app.post("/v1/tokenizers/{name}/encode")
    async def encode(name: str, request: Request) -> Response:
        body = await request.body()
        seen.append(1)
        headers = request.headers
        if not body.startswith(b"\x89PNG") or headers["content-type"] != "image/png":
            return Response(status_code=415)
        if headers["accept"] != "application/x-npy":
            return Response(status_code=406)
        return Response(b"ok", status_code=503 if len(seen) % 5 == 0 else 200)

    with running(app) as server:
        yield f"{server.url}/v1/tokenizers/tiny/encode"  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (Debian: apt-get install wrk)")
def test_a_short_real_wrk_run_posts_the_pngs() -> None:
    with _png_endpoint() as url:
        figures = run_wrk(
            url, [png(seed=0), png(seed=1)], connections=4, seconds=1, accept="application/x-npy"
        )
    assert figures["requests"] > 20 and 0.9 < figures["seconds"] < 2
    assert figures["non_2xx"] == pytest.approx(figures["requests"] / 5, abs=2)  # the 503s, no 415 or 406
    assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
    assert "Requests/sec" in figures["output"]
