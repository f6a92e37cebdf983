"""Which implementation runs a kernel: Triton on CUDA, the fastest measured path on CPU.

``TZOO_KERNELS=triton|torch|faiss`` forces one backend for every kernel call, e.g. to
compare them or to run the Triton kernels on CPU tensors in tests. Triton compiles
for GPUs only; on CPU tensors it runs in Triton's interpreter, which is slow and
therefore used only when ``TRITON_INTERPRET=1`` says so explicitly (and before triton
is imported: Triton reads it once). faiss-cpu
implements only the nearest-code search, on CPU tensors; with it forced, the other
kernels take their torch path.

The CPU default for the nearest-code search is faiss-cpu, by measurement (interleaved
runs on the 2-core AMD EPYC dev machine, N=2^14, K=2^12, medians of 5): for ``"l2"``
its fused k=1 scan takes 71 ms at D=8 and 278 ms at D=32 against 943 and 1189 ms for
the blocked torch matmul + argmin (on par at D=256, 2.4 s both); for ``"ip"`` and
``"cosine"`` it is 5-20% faster at D=8, 32 and 256. ``tzoo bench kernels`` has the
full L2 grid (``benchmarks/results/``).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Literal

import torch

from tokenizers_zoo.errors import TokenizersZooError

Backend = Literal["triton", "torch", "faiss"]
BACKENDS: tuple[Backend, ...] = ("triton", "torch", "faiss")
ENV_VAR = "TZOO_KERNELS"


class KernelBackendError(TokenizersZooError, RuntimeError):
    """A forced kernel backend that cannot run here (not installed, wrong device)."""


@functools.cache
def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


@functools.cache
def faiss_available() -> bool:
    return importlib.util.find_spec("faiss") is not None


def triton_interpreting() -> bool:
    """Whether Triton runs in its CPU interpreter: ``TRITON_INTERPRET=1`` was set before
    triton was first imported (Triton reads it then, once)."""
    if os.environ.get("TRITON_INTERPRET", "") != "1":
        return False
    from tokenizers_zoo.kernels.triton_runtime import interpreter_active

    return interpreter_active()


def forced_backend() -> Backend | None:
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if not value:
        return None
    if value not in BACKENDS:
        raise KernelBackendError(f"{ENV_VAR}={value!r} is not one of {', '.join(BACKENDS)}")
    return value  # type: ignore[return-value]


def _check_triton(device: torch.device) -> None:
    if not triton_available():
        raise KernelBackendError(f"{ENV_VAR}=triton but triton is not installed (pip install triton)")
    if device.type == "cpu" and not triton_interpreting():
        raise KernelBackendError(
            f"{ENV_VAR}=triton on CPU tensors needs TRITON_INTERPRET=1 in the environment before "
            "triton is first imported: Triton compiles for GPUs only and runs on CPU only in its "
            "(slow) interpreter"
        )
    if device.type not in ("cpu", "cuda"):
        raise KernelBackendError(f"{ENV_VAR}=triton supports cuda (and cpu when interpreting), not {device}")


def select_backend(device: torch.device, *, faiss_supported: bool = False) -> Backend:
    """The backend for one call on ``device``.

    ``faiss_supported``: faiss implements this call (a nearest-code search); it is then
    the CPU default, and a forced ``faiss`` applies to it. Other calls take their torch
    path when ``faiss`` is forced.
    """
    forced = forced_backend()
    if forced == "triton":
        _check_triton(device)
        return "triton"
    if forced == "faiss" and faiss_supported:
        if device.type != "cpu":
            raise KernelBackendError(f"{ENV_VAR}=faiss searches CPU tensors only, got {device}")
        if not faiss_available():
            raise KernelBackendError(f"{ENV_VAR}=faiss but faiss is not installed (pip install faiss-cpu)")
        return "faiss"
    if forced is not None:
        return "torch"
    if device.type == "cuda" and triton_available():
        return "triton"
    if device.type == "cpu" and faiss_supported and faiss_available():
        return "faiss"
    return "torch"
