"""keep_freed_memory: freed tensors are reused instead of re-mapped (glibc only)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Page faults per 128 x 128 encode of the default image tokenizer, after a warm-up.
FAULTS = """
import resource, sys, torch
import tokenizers_zoo as tz
from tokenizers_zoo.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
torch.set_num_threads(1)
tok = tz.load(tz.default_tokenizer("image", "discrete"))
x = torch.rand(1, 3, 128, 128) * 2 - 1
tok.encode(x)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    tok.encode(x)
print(applied, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 4)
"""


def _faults(mode: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    if env is None:  # an in-process CLI test may have set them in this process
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keep_freed_memory_stops_refaulting_large_tensors() -> None:
    applied, kept = _faults("keep")
    _, default = _faults("default")
    assert applied == "True"
    # By default glibc hands the activations back after each call and the kernel zeroes
    # fresh pages for the next (about 4,200 faults per encode here); kept, they are reused.
    assert default > 1000, default
    assert kept < default / 4, (kept, default)


def test_keep_freed_memory_leaves_an_explicit_environment_alone() -> None:
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "131072"}
    applied, _ = _faults("keep", env)
    assert applied == "False"
