"""``tzoo bench ntp``: the NTP backbone against its anchors, with figures from one run.

- nanoGPT's CPU recipe for tiny-shakespeare (``configs/ntp/shakespeare-char.yaml``: 4
  layers, 4 heads, 128 wide, block 64, batch 12, 2000 steps, lr 1e-3 to 1e-4, character
  vocabulary, first 90% train): held-out loss at step 2000 (nanoGPT reaches 1.88) and
  milliseconds per step (nanoGPT's run took about 55 ms per iteration on this machine,
  ``../shared/data/README.md``).
- The KV cache: greedy generation of 1024 tokens with and without it (same ids; the
  speed-up is the figure).
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from tokenizers_zoo.benchmarks.machine import cpu_model
from tokenizers_zoo.ntp.model import Transformer, TransformerConfig
from tokenizers_zoo.ntp.sample import generate
from tokenizers_zoo.ntp.train import load_ntp_config, train

RECIPE = Path(__file__).resolve().parent.parent / "configs" / "ntp" / "shakespeare-char.yaml"
NANOGPT = {"val_loss": 1.88, "ms_per_step": 55.0}


def kv_cache_speedup(tokens: int = 1024) -> dict[str, Any]:
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(vocab_size=65, block_size=tokens + 8))
    prompt = torch.randint(0, 65, (1, 8))
    timings, outputs = {}, {}
    for cached in (True, False):
        started = time.perf_counter()
        outputs[cached] = generate(model, prompt, tokens, temperature=0, use_cache=cached)
        timings[cached] = time.perf_counter() - started
    return {
        "tokens": tokens,
        "seconds_with_cache": timings[True],
        "seconds_without_cache": timings[False],
        "speedup": timings[False] / timings[True],
        "same_ids": bool(torch.equal(outputs[True], outputs[False])),
    }


def run_ntp_benchmark(corpus: str, out_dir: str | None = None, threads: int = 0) -> dict[str, Any]:
    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="tzoo-ntp-") as run_dir:
        cfg = load_ntp_config(RECIPE, [f"data.text={corpus}", f"run.dir={run_dir}"])
        last = train(cfg, resume=False)
    recipe = {
        "held_out_loss": last["val_loss"],
        "ms_per_step": last["ms_per_step"],
        "tokens_per_s": last["tokens_per_s"],
    }
    cache = kv_cache_speedup()
    report = {
        "machine": {
            "cpu": cpu_model(),
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
        },
        "torch": torch.__version__,
        "shakespeare_char": recipe,
        "nanogpt": NANOGPT,
        "kv_cache": cache,
    }
    lines = [
        f"tiny-shakespeare, nanoGPT's CPU recipe: held-out loss {recipe['held_out_loss']:.3f} at step 2000 "
        f"(nanoGPT: {NANOGPT['val_loss']}; target <= {NANOGPT['val_loss']})",
        f"  {recipe['ms_per_step']:.1f} ms per step, {recipe['tokens_per_s']:.0f} tokens/s "
        f"(nanoGPT on this machine: about {NANOGPT['ms_per_step']:.0f} ms per iteration of 768 tokens)",
        f"KV cache, greedy, {cache['tokens']} tokens: {cache['seconds_with_cache']:.2f} s with, "
        f"{cache['seconds_without_cache']:.2f} s without: {cache['speedup']:.1f}x (target >= 5x); "
        f"same ids: {cache['same_ids']}",
    ]
    print("\n".join(lines))
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "results.md").write_text(
            f"# tzoo bench ntp\n\n{report['machine']['cpu']}, {report['machine']['threads']} torch threads, "
            f"torch {report['torch']}\n\n" + "\n".join(f"- {line.strip()}" for line in lines) + "\n"
        )
    return report
