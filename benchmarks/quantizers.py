"""``tzoo bench quantizers``: eval-time VQ speed and peak memory against the usual ways.

Compares our ``VectorQuantizer`` with vector-quantize-pytorch's ``VectorQuantize``
and with ``torch.cdist(...).argmin`` on the same codebook. Each measurement runs in
a fresh process so its peak resident memory (``ru_maxrss``) is its own; times are
the median of repeated runs, with min and max.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from tokenizers_zoo.benchmarks.machine import cpu_model

QUICK_GRID = [(4096, 1024, 32)]
FULL_GRID = [(16384, 1024, 32), (65536, 1024, 32), (65536, 4096, 32)]
IMPLEMENTATIONS = ("tokenizers-zoo", "vector-quantize-pytorch", "torch.cdist+argmin")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _measure(impl: str, n: int, k: int, d: int, repeats: int, queue: Any) -> None:
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    x = torch.randn(1, n, d)
    if impl == "tokenizers-zoo":
        from tokenizers_zoo.quantizers import VectorQuantizer

        module = VectorQuantizer(d, k).eval()

        def run() -> Any:
            return module(x).indices
    elif impl == "vector-quantize-pytorch":
        from vector_quantize_pytorch import VectorQuantize

        module = VectorQuantize(dim=d, codebook_size=k).eval()

        def run() -> Any:
            return module(x)[1]
    else:
        codebook = torch.randn(k, d)

        def run() -> Any:
            return torch.cdist(x[0], codebook).argmin(-1)

    with torch.no_grad():
        base = _peak_rss_mib()  # before the first call: ru_maxrss never goes down
        run()  # warm-up: allocator and thread pools
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    queue.put({"peak_extra_mib": max(0.0, _peak_rss_mib() - base), "times": times})


def _run_isolated(impl: str, n: int, k: int, d: int, repeats: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(impl, n, k, d, repeats, queue))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        return {"error": f"exit code {proc.exitcode}"}
    return queue.get()


def run_quantizer_benchmark(quick: bool = False, out_dir: str | None = None) -> list[dict[str, Any]]:
    grid = QUICK_GRID if quick else FULL_GRID
    repeats = 3 if quick else 5
    rows = []
    for n, k, d in grid:
        for impl in IMPLEMENTATIONS:
            result = _run_isolated(impl, n, k, d, repeats)
            row: dict[str, Any] = {"impl": impl, "N": n, "K": k, "D": d}
            if "error" in result:
                row["error"] = result["error"]
            else:
                times = result["times"]
                row.update(
                    median_s=statistics.median(times),
                    min_s=min(times),
                    max_s=max(times),
                    code_pairs_per_s=n * k / statistics.median(times),
                    peak_extra_mib=result["peak_extra_mib"],
                )
            rows.append(row)
            print(_format_row(row), flush=True)
    if out_dir:
        _write(rows, Path(out_dir))
    return rows


def _format_row(row: dict[str, Any]) -> str:
    head = f"{row['impl']:<24} N={row['N']:<6} K={row['K']:<5} D={row['D']:<3}"
    if "error" in row:
        return f"{head} failed: {row['error']}"
    return (
        f"{head} median {row['median_s'] * 1e3:8.1f} ms (min {row['min_s'] * 1e3:.1f}, "
        f"max {row['max_s'] * 1e3:.1f})  peak +{row['peak_extra_mib']:.0f} MiB"
    )


def _write(rows: list[dict[str, Any]], out: Path) -> None:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    machine = {
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    (out / "results.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    lines = [
        f"Quantizer eval forward on {machine['cpu']} ({machine['threads']} threads), "
        f"torch {machine['torch']}",
        "",
        "| impl | N | K | D | median ms | min ms | max ms | peak extra MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['impl']} | {r['N']} | {r['K']} | {r['D']} | failed | | | |")
        else:
            lines.append(
                f"| {r['impl']} | {r['N']} | {r['K']} | {r['D']} | {r['median_s'] * 1e3:.1f} | "
                f"{r['min_s'] * 1e3:.1f} | {r['max_s'] * 1e3:.1f} | {r['peak_extra_mib']:.0f} |"
            )
    (out / "results.md").write_text("\n".join(lines) + "\n")
