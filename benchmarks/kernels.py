"""``tzoo bench kernels``: nearest-code search speed and memory against the usual ways.

For each (N, K, D) it times our ``nearest_code`` (the default dispatch, and its torch
path), faiss-cpu ``IndexFlatL2``, ``torch.cdist(...).argmin`` and vector-quantize-
pytorch's ``VectorQuantize`` in eval, on the same random vectors and codebook. Runs
are interleaved (one run of every implementation, then the next round), so load from
other processes hits all of them alike; the table gives the median with min and max
and code pairs (N * K) per second.

Peak extra memory is measured as ``benchmarks/memory.py`` says: the rise of the
process's peak resident set over its resident set just before the call, on CUDA of
``max_memory_allocated``.

Configurations that cannot finish are skipped with the reason in the output, never
run into swap or for minutes: a baseline whose N x K matrices would exceed
``--max-gib``, a run estimated (from the same implementation's rate at a smaller size)
to exceed ``--max-run-seconds``, and whatever is left when ``--budget-minutes`` is
spent. The two target configurations of the kernel issue run first.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tokenizers_zoo.benchmarks.machine import cpu_model
from tokenizers_zoo.benchmarks.memory import measure, return_freed_memory

GRID_N = [2**14, 2**16, 2**18, 2**20]
GRID_K = [2**10, 2**12, 2**14, 2**16]
GRID_D = [8, 16, 32, 64, 256]
QUICK_N, QUICK_K, QUICK_D = [2**12], [2**8, 2**10], [8, 32]
SPEED_TARGET = (2**16, 2**12, 32)  # CPU: within 1.2x of faiss, >= 10x vector-quantize-pytorch
MEMORY_TARGET = (2**18, 2**14, 32)  # CPU: peak extra memory under 64 MiB
GPU_TARGET = (2**20, 2**14, 32)  # bf16: >= 4e12 code pairs/s, >= 10x vector-quantize-pytorch
OURS, OURS_TORCH = "tokenizers-zoo", "tokenizers-zoo (torch path)"
FAISS, CDIST, VQP = "faiss-cpu IndexFlatL2", "torch.cdist+argmin", "vector-quantize-pytorch"
NOT_MEASURED_GPU = "not measured (no GPU in this session)"


@dataclass(frozen=True)
class Impl:
    """``prepare(x, codebook)`` builds what is not timed (a faiss index, a module) and
    returns the timed call; ``matrices`` is how many N x K fp32 matrices it holds."""

    name: str
    prepare: Callable[[torch.Tensor, torch.Tensor], Callable[[], Any]]
    matrices: float
    devices: tuple[str, ...]


@contextlib.contextmanager
def _kernels_env(value: str | None) -> Iterator[None]:
    old = os.environ.get("TZOO_KERNELS")
    if value is not None:
        os.environ["TZOO_KERNELS"] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZOO_KERNELS", None)
        else:
            os.environ["TZOO_KERNELS"] = old


def _ours(backend: str | None) -> Callable[[torch.Tensor, torch.Tensor], Callable[[], Any]]:
    from tokenizers_zoo.kernels import nearest_code

    def prepare(x: torch.Tensor, codebook: torch.Tensor) -> Callable[[], Any]:
        def run() -> Any:
            with _kernels_env(backend):
                return nearest_code(x, codebook)[0]

        return run

    return prepare


def _faiss(x: torch.Tensor, codebook: torch.Tensor) -> Callable[[], Any]:
    import faiss

    index = faiss.IndexFlatL2(codebook.shape[1])
    index.add(codebook.numpy())
    xn = x.numpy()
    return lambda: index.search(xn, 1)[1]


def _cdist(x: torch.Tensor, codebook: torch.Tensor) -> Callable[[], Any]:
    return lambda: torch.cdist(x, codebook).argmin(-1)


def _vqp(x: torch.Tensor, codebook: torch.Tensor) -> Callable[[], Any]:
    from vector_quantize_pytorch import VectorQuantize

    module = VectorQuantize(dim=x.shape[1], codebook_size=codebook.shape[0]).to(x.device).eval()
    module._codebook.embed.data.copy_(codebook.float()[None])
    batch = x[None]
    return lambda: module(batch)[1]


IMPLS = [
    Impl(OURS, _ours(None), 0, ("cpu", "cuda")),
    Impl(OURS_TORCH, _ours("torch"), 0, ("cpu",)),
    Impl(FAISS, _faiss, 0, ("cpu",)),
    Impl(CDIST, _cdist, 2, ("cpu", "cuda")),
    # distances, their negation for the softmax/argmax and a one-hot of the same size
    Impl(VQP, _vqp, 4, ("cpu", "cuda")),
]


def _measure(run: Callable[[], Any], device: str) -> tuple[float, float]:
    """One timed call: ``(seconds, peak extra MiB)``; the result is held until both are read."""
    with measure(device) as measured:
        result = run()
    del result
    return measured.seconds, measured.peak_extra_mib


def machine_info(device: str) -> dict[str, Any]:
    import faiss

    info = {
        "device": device,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "faiss": faiss.__version__,
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg()[0],
    }
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def _grid(quick: bool) -> list[tuple[int, int, int]]:
    ns, ks, ds = (QUICK_N, QUICK_K, QUICK_D) if quick else (GRID_N, GRID_K, GRID_D)
    configs = sorted(((n, k, d) for n in ns for k in ks for d in ds), key=lambda c: (c[0] * c[1] * c[2], c))
    first = [c for c in (SPEED_TARGET, MEMORY_TARGET) if c in configs]
    return first + [c for c in configs if c not in first]


def _bench_config(
    n: int,
    k: int,
    d: int,
    device: str,
    rates: dict[tuple[str, int], float],
    *,
    max_bytes: float,
    max_run_s: float,
    repeats: int,
) -> list[dict[str, Any]]:
    gen = torch.Generator().manual_seed(n + k + d)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    x = torch.randn(n, d, generator=gen).to(device, dtype)
    codebook = torch.randn(k, d, generator=gen).to(device, dtype)
    rows: dict[str, dict[str, Any]] = {}
    runs: dict[str, Callable[[], Any]] = {}
    for impl in IMPLS:
        if device not in impl.devices:
            continue
        row = rows[impl.name] = {"impl": impl.name, "N": n, "K": k, "D": d, "device": device}
        need = impl.matrices * n * k * 4
        estimate = n * k / rates[(impl.name, d)] if (impl.name, d) in rates else None
        if need > max_bytes:
            row["skipped"] = (
                f"needs ~{need / 2**30:.0f} GiB of N x K matrices (cap {max_bytes / 2**30:.0f} GiB)"
            )
        elif estimate is not None and estimate > max_run_s:
            row["skipped"] = f"estimated {estimate:.0f} s per run (cap {max_run_s:.0f} s)"
        else:
            impl_x = x.float() if impl.name == VQP else x
            runs[impl.name] = impl.prepare(impl_x, codebook)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            if times[name] and sum(times[name]) > max_run_s:
                continue  # enough of a slow one: keep what was measured
            seconds, peak = _measure(run, device)
            times[name].append(seconds)
            rows[name]["peak_extra_mib"] = max(rows[name].get("peak_extra_mib", 0.0), peak)
    for name, ts in times.items():
        median = statistics.median(ts)
        rates[(name, d)] = n * k / median
        rows[name].update(
            median_s=median, min_s=min(ts), max_s=max(ts), runs=len(ts), code_pairs_per_s=n * k / median
        )
    return list(rows.values())


def run_kernel_benchmark(
    quick: bool = False,
    out_dir: str | None = None,
    *,
    max_gib: float = 6.0,
    max_run_seconds: float = 60.0,
    budget_minutes: float = 40.0,
) -> dict[str, Any]:
    """Run the grid on CPU (and on CUDA when there is a GPU), print rows as they come,
    write JSON + Markdown + PNG to ``out_dir`` and return the results."""
    return_freed_memory()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    deadline = time.monotonic() + budget_minutes * 60
    results: dict[str, Any] = {"machine": machine_info(devices[-1]), "rows": []}
    for device in devices:
        rates: dict[tuple[str, int], float] = {}
        for n, k, d in _grid(quick):
            if time.monotonic() > deadline:
                for impl in IMPLS:
                    if device in impl.devices:
                        skip = f"not run: the {budget_minutes:.0f} min budget was spent"
                        results["rows"].append(
                            {"impl": impl.name, "N": n, "K": k, "D": d, "device": device, "skipped": skip}
                        )
                continue
            repeats = 5 if (n, k, d) == SPEED_TARGET or quick else 3
            rows = _bench_config(
                n, k, d, device, rates, max_bytes=max_gib * 2**30, max_run_s=max_run_seconds, repeats=repeats
            )
            for row in rows:
                print(format_row(row), flush=True)
            results["rows"].extend(rows)
    results["machine"]["load_average_at_end"] = os.getloadavg()[0]
    results["targets"] = target_summary(results["rows"])
    for line in results["targets"]["lines"]:
        print(line)
    if out_dir:
        write_results(results, Path(out_dir))
    return results


def format_row(row: dict[str, Any]) -> str:
    size = f"N=2^{_log2(row['N']):<2} K=2^{_log2(row['K']):<2} D={row['D']:<3}"
    head = f"{row['device']:<4} {row['impl']:<28} {size}"
    if "skipped" in row:
        return f"{head} skipped: {row['skipped']}"
    return (
        f"{head} median {row['median_s'] * 1e3:9.1f} ms (min {row['min_s'] * 1e3:.1f}, max "
        f"{row['max_s'] * 1e3:.1f}, {row['runs']} runs)  {row['code_pairs_per_s']:.3g} pairs/s  "
        f"peak +{row['peak_extra_mib']:.0f} MiB"
    )


def _log2(value: int) -> int:
    return value.bit_length() - 1


def _find(rows: list[dict[str, Any]], impl: str, config: tuple[int, int, int], device: str) -> dict | None:
    n, k, d = config
    for row in rows:
        if (row["impl"], row["N"], row["K"], row["D"], row["device"]) == (impl, n, k, d, device):
            return row if "median_s" in row else None
    return None


def target_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets as ratios from this run (None where a figure is missing)."""
    ours = _find(rows, OURS, SPEED_TARGET, "cpu")
    faiss = _find(rows, FAISS, SPEED_TARGET, "cpu")
    vqp = _find(rows, VQP, SPEED_TARGET, "cpu")
    memory = _find(rows, OURS, MEMORY_TARGET, "cpu")
    summary: dict[str, Any] = {
        "cpu_ours_over_faiss": ours["median_s"] / faiss["median_s"] if ours and faiss else None,
        "cpu_vqp_over_ours": vqp["median_s"] / ours["median_s"] if ours and vqp else None,
        "cpu_peak_extra_mib_at_memory_target": memory["peak_extra_mib"] if memory else None,
    }
    gpu_ours = _find(rows, OURS, GPU_TARGET, "cuda")
    gpu_vqp = _find(rows, VQP, GPU_TARGET, "cuda")
    summary["gpu_code_pairs_per_s"] = gpu_ours["code_pairs_per_s"] if gpu_ours else NOT_MEASURED_GPU
    summary["gpu_vqp_over_ours"] = (
        gpu_vqp["median_s"] / gpu_ours["median_s"] if gpu_ours and gpu_vqp else NOT_MEASURED_GPU
    )

    def fmt(value: Any, pattern: str) -> str:
        return pattern.format(value) if isinstance(value, float) else str(value)

    summary["lines"] = [
        "CPU N=2^16 K=2^12 D=32: ours / faiss-cpu = "
        + fmt(summary["cpu_ours_over_faiss"], "{:.2f}x")
        + " (target <= 1.2x); vector-quantize-pytorch / ours = "
        + fmt(summary["cpu_vqp_over_ours"], "{:.1f}x")
        + " (target >= 10x)",
        "CPU N=2^18 K=2^14 D=32: ours peak extra memory = "
        + fmt(summary["cpu_peak_extra_mib_at_memory_target"], "{:.1f} MiB")
        + " (target < 64 MiB; the N x K fp32 distance matrix alone is 16 GiB)",
        "GPU N=2^20 K=2^14 D=32 bf16: "
        + fmt(summary["gpu_code_pairs_per_s"], "{:.3g} code pairs/s")
        + " (target >= 4e12); vector-quantize-pytorch / ours = "
        + fmt(summary["gpu_vqp_over_ours"], "{:.1f}x")
        + " (target >= 10x)",
    ]
    return summary


def write_results(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    m = results["machine"]
    lines = [
        f"# Nearest-code search on {m['cpu']} ({m['cores']} cores, {m['torch_threads']} torch threads)",
        "",
        f"torch {m['torch']}, faiss {m['faiss']}, Python {m['python']}; load average "
        f"{m['load_average_at_start']:.1f} at the start and {m['load_average_at_end']:.1f} at the end "
        "(other processes shared the machine: compare implementations within a row group, "
        "they ran interleaved).",
        "",
        "## Targets",
        "",
        *[f"- {line}" for line in results["targets"]["lines"]],
        "",
        "## All configurations",
        "",
        "| device | impl | N | K | D | median ms | min ms | max ms | runs | code pairs/s | peak extra MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        head = f"| {r['device']} | {r['impl']} | 2^{_log2(r['N'])} | 2^{_log2(r['K'])} | {r['D']} |"
        if "skipped" in r:
            lines.append(f"{head} skipped: {r['skipped']} | | | | | |")
        else:
            lines.append(
                f"{head} {r['median_s'] * 1e3:.1f} | {r['min_s'] * 1e3:.1f} | {r['max_s'] * 1e3:.1f} | "
                f"{r['runs']} | {r['code_pairs_per_s']:.3g} | {r['peak_extra_mib']:.1f} |"
            )
    if m["device"] != "cuda":
        lines += ["", f"GPU rows: {NOT_MEASURED_GPU}."]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    _plot(results["rows"], out / "results.png")


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Code pairs per second against K, one panel per D, at the most common N."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'tokenizers-zoo[bench]'): no plot written")
        return
    measured = [r for r in rows if "median_s" in r and r["device"] == "cpu"]
    if not measured:
        return
    n = statistics.mode(r["N"] for r in measured)
    dims = sorted({r["D"] for r in measured})
    fig, axes = plt.subplots(1, len(dims), figsize=(4 * len(dims), 3.6), squeeze=False, sharey=True)
    for ax, d in zip(axes[0], dims, strict=True):
        for impl in IMPLS:
            pts = sorted(
                (r["K"], r["code_pairs_per_s"])
                for r in measured
                if (r["impl"], r["N"], r["D"]) == (impl.name, n, d)
            )
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=impl.name)
        ax.set(xscale="log", yscale="log", xlabel="codebook size K", title=f"D={d}, N=2^{_log2(n)}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("code pairs / s (CPU)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
