"""``tzoo bench tokenize``: the token-dataset engines against an in-process batched encode.

Measured in one run, on the same files: ``--data`` linked ``--repeat`` times into one
temporary folder (a copy per subfolder), so the fixed costs of a run (loading the
tokenizer, starting the decoding workers or Ray's actors) weigh in throughput as they
would on a real dataset, not as they do on 63 photos:
- baseline: this process decodes each file (the engines' decode and resize) and calls
  ``tok.encode`` on batches of ``--batch-size``, keeping nothing;
- the local engine (``tokenize_dataset``, ``--workers`` DataLoader processes) and its
  ratio to the baseline (target >= 0.9);
- the Ray engine on a local cluster of ``--ray-cpus`` CPUs, its ratio to the local
  engine (target >= 0.7) and whether its output is byte-identical;
- peak resident memory of a fresh ``tzoo tokenize-dataset`` process for ``--memory-small``
  and ``--memory-large`` generated images (target: within 10%);
- a run killed with SIGKILL at a random moment, then rerun: byte-identical to one that
  was not.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tokenizers_zoo.datasets import Limits, tokenize_dataset
from tokenizers_zoo.datasets.items import Item, decode_batch, list_inputs
from tokenizers_zoo.datasets.shards import LOCK


def _files(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != LOCK
    }


def baseline(tokenizer: str, data: str, size: int, batch_size: int) -> tuple[int, float]:
    import tokenizers_zoo as tz

    tok = tz.load(tokenizer)
    _, found = list_inputs(data, tok.info.modality)
    items = [Item(s, p) for s, p in found]
    started = time.perf_counter()
    for i in range(0, len(items), batch_size):
        decoded = [
            d
            for d in decode_batch(items[i : i + batch_size], tok.info.modality, size, Limits())
            if hasattr(d, "array")
        ]
        if tok.info.modality == "image":
            tok.encode([d.array for d in decoded])
        else:
            for d in decoded:
                tok.encode(d.array, sample_rate=d.sample_rate)
    return len(items), time.perf_counter() - started


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "tokenizers_zoo.cli", *args, "--no-progress"]


def peak_rss_mib(args: list[str]) -> float:
    """Peak resident set (MiB) of a fresh process running ``tzoo args`` (its largest
    process: the one writing the shards)."""
    code = (
        "import resource, subprocess, sys; "
        "subprocess.run(sys.argv[1:], check=False, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *_cli(args)], check=True, capture_output=True, text=True
    )
    return int(out.stdout.split()[-1]) / 1024


def _repeated(source: Path, target: Path, times: int) -> Path:
    """``times`` linked copies of the files under ``source``, one subfolder each."""
    files = [p for p in sorted(source.rglob("*")) if p.is_file()]
    for copy in range(times):
        for path in files:
            link = target / f"copy{copy}" / path.relative_to(source)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path.resolve())
    return target


def _make_images(folder: Path, count: int, side: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(folder / f"{i:05d}.png")


def run(args: Any) -> dict[str, Any]:
    results: dict[str, Any] = {
        "tokenizer": args.tokenizer,
        "data": args.data,
        "repeat": args.repeat,
        "size": args.size,
    }
    common = {"size": args.size, "batch_size": args.batch_size, "progress": False}
    with tempfile.TemporaryDirectory(prefix="tzoo-bench-tokenize-") as tmp:
        root = Path(tmp)
        data = _repeated(Path(args.data), root / "data", args.repeat)
        args = type(args)(**{**vars(args), "data": str(data)})
        count, seconds = baseline(args.tokenizer, args.data, args.size, args.batch_size)
        results["inputs"] = count
        results["baseline_items_per_s"] = count / seconds
        print(f"in-process batched encode: {count} inputs in {seconds:.1f} s, {count / seconds:.2f} items/s")
        local = tokenize_dataset(args.tokenizer, args.data, root / "local", workers=args.workers, **common)
        results["local_items_per_s"] = local.items_per_second
        results["local_steady_items_per_s"] = local.steady_items_per_second
        results["local_first_batch_s"] = local.first_batch_seconds
        results["local_vs_baseline"] = local.items_per_second / results["baseline_items_per_s"]
        print(
            f"local engine ({args.workers} workers): {local.items_per_second:.2f} items/s, "
            f"{results['local_vs_baseline']:.2f}x the baseline (target >= 0.9); "
            f"first batch after {local.first_batch_seconds:.1f} s, {local.steady_items_per_second:.2f} "
            "items/s after it"
        )
        if args.ray_cpus:
            import ray

            ray.init(num_cpus=args.ray_cpus, include_dashboard=False, log_to_driver=False)
            try:
                remote = tokenize_dataset(
                    args.tokenizer, args.data, root / "ray", engine="ray", workers=args.ray_cpus, **common
                )
            finally:
                ray.shutdown()
            same = _files(root / "ray") == _files(root / "local")
            results["ray_items_per_s"] = remote.items_per_second
            results["ray_vs_local"] = remote.items_per_second / local.items_per_second
            results["ray_steady_items_per_s"] = remote.steady_items_per_second
            results["ray_first_batch_s"] = remote.first_batch_seconds
            results["ray_vs_local_steady"] = remote.steady_items_per_second / local.steady_items_per_second
            results["ray_identical"] = same
            print(
                f"ray engine ({args.ray_cpus}-CPU local cluster): incl. its start "
                f"{remote.items_per_second:.2f} items/s, {results['ray_vs_local']:.2f}x local "
                f"(target >= 0.7); first batch after {remote.first_batch_seconds:.1f} s, then "
                f"{remote.steady_items_per_second:.2f} items/s, {results['ray_vs_local_steady']:.2f}x "
                f"local's after its first; output {'byte-identical' if same else 'DIFFERS'}"
            )
        if args.memory_small:
            peaks = {}
            for count in (args.memory_small, args.memory_large):
                folder = root / f"mem-{count}"
                _make_images(folder, count, args.memory_side)
                peaks[count] = peak_rss_mib(
                    ["tokenize-dataset", "--tokenizer", args.memory_tokenizer, "--input", str(folder)]
                    + ["--output", str(root / f"mem-out-{count}"), "--size", str(args.memory_side)]
                    + ["--shard-size", "256", "--workers", str(args.workers)]
                )
            growth = peaks[args.memory_large] / peaks[args.memory_small] - 1
            results["peak_rss_mib"] = peaks
            results["peak_rss_growth"] = growth
            print(
                f"peak RSS ({args.memory_tokenizer}, {args.memory_side}px): {args.memory_small} images "
                f"{peaks[args.memory_small]:.0f} MiB, {args.memory_large} images "
                f"{peaks[args.memory_large]:.0f} MiB "
                f"({growth:+.1%}; target within 10%)"
            )
        if args.kill:
            cmd = [
                "tokenize-dataset",
                "--tokenizer",
                args.tokenizer,
                "--input",
                args.data,
                "--size",
                str(args.size),
            ]
            cmd += ["--shard-size", str(args.batch_size), "--batch-size", str(args.batch_size)]
            started = time.perf_counter()
            subprocess.run(_cli([*cmd, "--output", str(root / "whole")]), check=True, capture_output=True)
            whole = time.perf_counter() - started
            delay = random.uniform(0.3, 0.9) * whole
            proc = subprocess.Popen(_cli([*cmd, "--output", str(root / "killed")]), stdout=subprocess.DEVNULL)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            subprocess.run(_cli([*cmd, "--output", str(root / "killed")]), check=True, capture_output=True)
            same = _files(root / "killed") == _files(root / "whole")
            results["kill_after_s"] = delay
            results["kill_rerun_identical"] = same
            print(
                f"SIGKILL after {delay:.1f} s of a {whole:.1f} s run, rerun: "
                f"{'byte-identical' if same else 'DIFFERS'} to the uninterrupted run"
            )
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results
