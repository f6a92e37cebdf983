"""Suite-wide setup: tests marked ``gpu`` skip on machines without CUDA, and there the
Triton kernels run in Triton's CPU interpreter instead; torch uses one thread.

Triton reads ``TRITON_INTERPRET`` once, when it is first imported, so it is set here,
before any test module imports the kernels (``import torch`` does not import triton).
"""

from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# Tests use tiny tensors: one thread is faster, and with more threads than idle cores
# OpenMP's busy-waiting made a 16x16 forward pass take seconds instead of milliseconds.
torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
