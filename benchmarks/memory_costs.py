"""``tzoo bench memory``: what one encode and one decode of each tokenizer costs in memory.

The service admits a request only when its memory fits the budget (``--max-memory``),
using the figures each registry entry records (``MemoryCost``: fixed bytes plus bytes per
pixel or per second of audio). This measures them: for every entry, in a fresh process,
the rise of the peak resident set (``benchmarks/memory.py``) of one encode and one decode
at two sizes, fitted as ``fixed + per_unit * units``, next to what the entry records. A
recorded figure below the measured one means the service can be asked for more memory
than it budgets: raise it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

#: The two sizes each modality is measured at: image sides in pixels, audio in seconds.
SIZES = {"image": (256, 512), "audio": (2.0, 12.0)}


def measure_entry(name: str) -> dict[str, Any]:
    """Encode and decode peaks (bytes) of ``name`` at both sizes, in this process."""
    import numpy as np
    import torch

    import tokenizers_zoo as tz
    from tokenizers_zoo.benchmarks.memory import measure, return_freed_memory
    from tokenizers_zoo.errors import WeightsNotFoundError

    return_freed_memory()
    torch.set_num_threads(1)
    try:
        tok = tz.load(name)
    except WeightsNotFoundError:
        tok = tz.load(name, pretrained=False)
    modality = tok.info.modality
    rows = []
    for size in SIZES[modality]:
        if modality == "image":
            media: Any = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
            units, rate = float(size * size), None
        else:
            rate = tok.info.sample_rate or 16000
            media = (0.1 * np.random.default_rng(0).standard_normal((1, int(size * rate)))).astype(np.float32)
            units = float(size)
        tok.encode(media, sample_rate=rate)  # warm-up: one-off allocations are not per-request cost
        with measure("cpu") as encoded:
            tokens = tok.encode(media, sample_rate=rate)
        tok.decode(tokens)
        with measure("cpu") as decoded:
            tok.decode(tokens)
        rows.append(
            {
                "units": units,
                "encode": encoded.peak_extra_mib * 2**20,
                "decode": decoded.peak_extra_mib * 2**20,
            }
        )
    return {"name": name, "modality": modality, "rows": rows}


def fit(rows: list[dict[str, float]], op: str) -> tuple[float, float]:
    """``(fixed, per_unit)`` of the line through the two measurements (per_unit >= 0)."""
    (u1, b1), (u2, b2) = ((r["units"], r[op]) for r in rows)
    per_unit = max(0.0, (b2 - b1) / (u2 - u1))
    return max(0.0, b1 - per_unit * u1), per_unit


def run_memory_benchmark(names: list[str] | None = None, out_dir: str | None = None) -> list[dict[str, Any]]:
    import tokenizers_zoo as tz

    results = []
    for name in names or tz.list_tokenizers():
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import json; from {__name__} import measure_entry; "
                f"print(json.dumps(measure_entry({name!r})))",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(f"{name}: not measured ({proc.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
            continue
        measured = json.loads(proc.stdout.strip().splitlines()[-1])
        recorded = tz.get_entry(name).memory
        unit = "pixel" if measured["modality"] == "image" else "second"
        row = {"name": name, "unit": unit}
        for op in ("encode", "decode"):
            fixed, per_unit = fit(measured["rows"], op)
            largest = measured["rows"][-1]
            row[op] = {
                "fixed": round(fixed),
                "per_unit": round(per_unit, 1),
                "at_largest": round(largest[op]),
            }
            if recorded is not None:
                row[op]["recorded_at_largest"] = round(recorded.bytes(op, largest["units"]))
        results.append(row)
        print(_line(row))
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _line(row: dict[str, Any]) -> str:
    parts = [f"{row['name']:<20}"]
    for op in ("encode", "decode"):
        cost = row[op]
        recorded = cost.get("recorded_at_largest")
        check = (
            ""
            if recorded is None
            else f", recorded {recorded / 2**20:.0f} MiB"
            + (" (LOW)" if recorded < cost["at_largest"] else "")
        )
        parts.append(
            f"{op} {cost['fixed'] / 2**20:.0f} MiB + {cost['per_unit']:.1f} B/{row['unit']} "
            f"(measured {cost['at_largest'] / 2**20:.0f} MiB at the larger size{check})"
        )
    return "  ".join(parts)


def admission_check(
    tokenizer: str = "image-fsq-f8-4k",
    budget_mib: int = 1024,
    side: int = 512,
    clients: int = 64,
    timeout_s: float = 600.0,
    torch_threads: int = 0,
) -> dict[str, Any]:
    """``clients`` concurrent encodes of ``side`` x ``side`` images against a fresh
    ``tzoo serve --max-memory-mib budget_mib``: the answers' statuses and how far the
    server's peak resident set rose over its resident set after a warm-up request."""
    import asyncio
    from collections import Counter

    import httpx
    import numpy as np

    from tokenizers_zoo.benchmarks.memory import status_kib
    from tokenizers_zoo.media.image import write_image
    from tokenizers_zoo.service.local import LocalServer

    rng = np.random.default_rng(0)
    bodies = [write_image(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)) for _ in range(clients)]
    args = ["--tokenizers", tokenizer, "--max-memory-mib", str(budget_mib), "--timeout", str(timeout_s)]
    if torch_threads:
        args += ["--torch-threads", str(torch_threads)]
    headers = {"Content-Type": "image/png"}
    with LocalServer(args) as server:
        url = f"{server.url}/v1/tokenizers/{tokenizer}/encode"
        httpx.post(url, content=bodies[0], headers=headers, timeout=timeout_s).raise_for_status()
        before = status_kib("VmRSS", server.pid)
        Path(f"/proc/{server.pid}/clear_refs").write_text("5")  # the peak starts from now

        async def load() -> list[int]:
            limits = httpx.Limits(max_connections=clients)
            async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
                answers = await asyncio.gather(
                    *(client.post(url, content=b, headers=headers) for b in bodies)
                )
            return [a.status_code for a in answers]

        statuses = asyncio.run(load())
        rise_mib = (status_kib("VmHWM", server.pid) - before) / 1024
        metrics = httpx.get(f"{server.url}/metrics").text
    reserved = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("tzoo_memory_reserved_bytes ")
    )
    result = {
        "tokenizer": tokenizer,
        "budget_mib": budget_mib,
        "side": side,
        "clients": clients,
        "statuses": dict(Counter(statuses)),
        "peak_rss_rise_mib": round(rise_mib, 1),
        "reserved_after_bytes": reserved,
    }
    print(
        f"{clients} concurrent {side}x{side} encodes on {tokenizer}, budget {budget_mib} MiB: "
        f"statuses {result['statuses']}, server peak RSS rose {rise_mib:.0f} MiB "
        f"({rise_mib / budget_mib:.2f} of the budget)"
    )
    return result
