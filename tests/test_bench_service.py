"""wrk's report parsed from real wrk output (``tests/fixtures/wrk_*.txt``), and one short
real wrk run when wrk is installed."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request, Response
from service_helpers import png, running
from tokenizers_zoo.benchmarks.wrk import WrkError, parse_wrk_output, run_wrk

FIXTURES = Path(__file__).parent / "fixtures"


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
