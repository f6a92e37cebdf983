"""Suite-wide setup: tests marked ``gpu`` skip on machines without CUDA, and there the
Triton kernels run in Triton's CPU interpreter instead.

Triton reads ``TRITON_INTERPRET`` once, when it is first imported, so it is set here,
before any test module imports the kernels (``import torch`` does not import triton).
"""

from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
