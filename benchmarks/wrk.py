"""Drive an HTTP load phase with wrk (https://github.com/wg/wrk; Debian: ``apt-get install
wrk``), a load generator written in C, and read its report.

On a small machine the bench's Python load generator takes a core from the server it
measures; wrk, one epoll thread, takes far less, so its figures come closer to what the
server can do. The Lua script posts the bench's PNGs in turn (``Content-Type: image/png``)
and adds one line to wrk's report, the 95th percentile latency, which ``--latency``
does not print.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

#: One thread: a single epoll loop keeps 32 connections busy at thousands of requests/s,
#: and every extra thread is a core taken from the server.
THREADS = 1
#: As long as the Python generator's timeout: at 32 clients a CPU batch takes seconds,
#: and wrk's default (2 s) would count those requests as timeouts.
TIMEOUT_S = 60
P95_LINE = "p95 latency:"

SCRIPT = f"""\
-- tokenizers-zoo bench service: POST each file given after `--` in turn
wrk.method = "POST"
wrk.headers["Content-Type"] = "image/png"
local requests, count, turn = {{}}, 0, 0

function init(args)
  for _, path in ipairs(args) do
    local file = assert(io.open(path, "rb"))
    count = count + 1
    requests[count] = wrk.format(nil, nil, nil, file:read("*a"))
    file:close()
  end
  assert(count > 0, "no request bodies given after --")
end

function request()
  turn = turn % count + 1
  return requests[turn]
end

function done(summary, latency, requests)
  io.write(string.format("{P95_LINE} %.0fus\\n", latency:percentile(95)))
end
"""

_TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_NUMBER = r"([0-9.]+)"
_TIME = rf"{_NUMBER}(us|ms|s|m|h)"


class WrkError(RuntimeError):
    """wrk did not run, or printed no report (e.g. it could not connect)."""


def find_wrk() -> str | None:
    """The path of ``wrk`` on PATH, or ``None``."""
    return shutil.which("wrk")


def _ms(value: str, unit: str) -> float:
    return float(value) * _TIME_UNITS_MS[unit]


def parse_wrk_output(text: str) -> dict[str, Any]:
    """The figures of one wrk report (``--latency``, with this module's script):
    requests, seconds, requests/s, latency percentiles in ms (``None`` when no request
    was answered: wrk then prints zeros), non-2xx/3xx answers and socket errors."""
    done = re.search(rf"^\s*(\d+) requests in {_TIME}", text, re.M)
    rate = re.search(rf"^Requests/sec:\s+{_NUMBER}", text, re.M)
    if not (done and rate):
        raise WrkError(f"no wrk report in its output: {text.strip()[-500:]!r}")
    requests = int(done.group(1))
    result: dict[str, Any] = {
        "requests": requests,
        "seconds": _ms(done.group(2), done.group(3)) / 1e3,
        "requests_per_s": float(rate.group(1)),
    }
    # wrk pads a one-letter unit ("1.24s ") to line up with two-letter ones
    distribution = re.findall(rf"^\s+(\d+)%\s+{_TIME}\s*$", text, re.M)
    percentiles = {f"p{q}_ms": _ms(value, unit) for q, value, unit in distribution}
    p95 = re.search(rf"^{P95_LINE} {_TIME}", text, re.M)
    if p95:
        percentiles["p95_ms"] = _ms(p95.group(1), p95.group(2))
    for key in ("p50_ms", "p75_ms", "p90_ms", "p95_ms", "p99_ms"):
        result[key] = percentiles.get(key) if requests else None
    non_2xx = re.search(r"^\s*Non-2xx or 3xx responses: (\d+)", text, re.M)
    result["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    names = ("connect", "read", "write", "timeout")
    result["socket_errors"] = dict(zip(names, map(int, errors.groups()) if errors else (0,) * 4, strict=True))
    return result


def run_wrk(
    url: str, bodies: list[bytes], connections: int, seconds: float, accept: str, wrk: str = "wrk"
) -> dict[str, Any]:
    """``connections`` connections posting ``bodies`` in turn to ``url`` for ``seconds``
    (whole seconds, at least one: wrk takes no fractions); the parsed report, with wrk's
    own text under ``output``."""
    with tempfile.TemporaryDirectory(prefix="tzoo-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(SCRIPT)
        files = []
        for i, body in enumerate(bodies):
            files.append(Path(tmp) / f"body{i}.png")
            files[-1].write_bytes(body)
        duration = max(1, round(seconds))
        command = [
            wrk, f"--threads={min(THREADS, connections)}", f"--connections={connections}",
            f"--duration={duration}s", f"--timeout={TIMEOUT_S}s", "--latency",
            f"--script={script}", f"--header=Accept: {accept}", url, "--", *map(str, files),
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=duration + TIMEOUT_S + 30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise WrkError(f"wrk did not finish: {exc}") from exc
    if done.returncode != 0 or done.stderr.strip():  # a script error is only a line on stderr
        raise WrkError(f"wrk exited with {done.returncode}: {(done.stderr or done.stdout).strip()[-500:]}")
    return {**parse_wrk_output(done.stdout), "output": done.stdout}
