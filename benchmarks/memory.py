"""Peak memory of one call, the same way in every benchmark.

On CPU, ``tracemalloc`` sees none of torch's buffers and the lifetime peak
(``ru_maxrss``) hides a call that needs less than an earlier one, so the peak resident
set is reset through ``/proc/self/clear_refs`` before the call and read back from
``VmHWM`` after it: the figure is the rise of the process's peak resident set over its
resident set just before the call (Linux only). glibc is told to return every large
block to the system on free (``return_freed_memory``), so the resident set tracks live
memory and one call is not hidden in what an earlier call left. On CUDA it is the rise
of ``torch.cuda.max_memory_allocated`` over what was allocated before the call (tensors
only, not the caching allocator's reserve or the CUDA context).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch


def return_freed_memory() -> None:
    """Fix glibc's mmap threshold at 64 KiB (which also stops it adapting upwards), so
    every large buffer is unmapped on free and the resident set tracks live memory."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD


def status_kib(field: str, pid: int | str = "self") -> int:
    """A ``/proc/PID/status`` figure in KiB (``VmRSS``, ``VmHWM``), of this or another process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


@dataclass
class Measurement:
    """Filled in when the ``measure`` block ends."""

    seconds: float = 0.0
    peak_extra_mib: float = 0.0


@contextlib.contextmanager
def measure(device: str | torch.device) -> Iterator[Measurement]:
    """Wall time and peak extra memory of the block (CUDA work is synchronised first)."""
    result = Measurement()
    on_cuda = torch.device(device).type == "cuda"
    gc.collect()
    if on_cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = status_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current RSS
    start = time.perf_counter()
    yield result
    if on_cuda:
        torch.cuda.synchronize()
        result.seconds = time.perf_counter() - start
        result.peak_extra_mib = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        result.seconds = time.perf_counter() - start
        result.peak_extra_mib = max(0, status_kib("VmHWM") - base) / 1024
