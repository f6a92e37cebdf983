"""How the Triton kernels are launched: compiled on CUDA, or in Triton's interpreter.

Triton picks its mode once, when it is first imported: with ``TRITON_INTERPRET=1`` every
``@triton.jit`` function (its standard library included) becomes a numpy interpreter
that runs on CPU tensors; otherwise kernels compile for the GPU and the two cannot be
mixed in one process. ``TritonKernel`` follows that mode: compiled kernels are
autotuned over ``configs`` for the H100/H200; interpreted ones use small fixed blocks,
since the interpreter runs every program in numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import triton
import triton.language.standard
from triton.runtime import interpreter
from triton.runtime.interpreter import InterpretedFunction

Grid = Callable[[dict[str, Any]], tuple[int, ...]]


def interpreter_active() -> bool:
    """Whether Triton was imported in interpreter mode (``TRITON_INTERPRET=1`` set before)."""
    return isinstance(triton.language.standard.sum, InterpretedFunction)


def _index_scalars_with_item() -> None:
    """Triton 3.6's interpreter holds a scalar argument as a 1-element numpy array and
    turns it into a loop bound with ``int(array)``, which numpy >= 2.4 rejects for arrays
    of ndim > 0 (``for start in range(0, n, BLOCK)`` then fails). Patch that one
    conversion to ``.item()``; the rest of the interpreter's patching is untouched."""
    original = interpreter._patch_lang_tensor
    if getattr(original, "_tzoo_fixed", False):
        return

    def patch(tensor, scope):  # noqa: ANN001, ANN202
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.item()))

    patch._tzoo_fixed = True  # type: ignore[attr-defined]
    interpreter._patch_lang_tensor = patch


class TritonKernel:
    """``kernel(device, grid, *args, **meta)`` launches ``fn`` on the tensors' device.

    ``grid`` maps the meta-parameters in force to the launch grid. Compiled, the kernel
    gets ``compiled_meta`` and, when ``configs`` are given, is autotuned over them (keyed
    by ``key``); interpreted, it gets ``interpret_meta``.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        configs: Sequence[triton.Config] = (),
        key: Sequence[str] = (),
        prune_configs_by: dict[str, Any] | None = None,
        compiled_meta: dict[str, Any] | None = None,
        interpret_meta: dict[str, Any] | None = None,
    ) -> None:
        self.interpreted = interpreter_active()
        kernel: Any = triton.jit(fn)
        if self.interpreted:
            _index_scalars_with_item()
            self.meta = interpret_meta or {}
        else:
            if configs:
                kernel = triton.autotune(list(configs), key=list(key), prune_configs_by=prune_configs_by)(
                    kernel
                )
            self.meta = compiled_meta or {}
        self.kernel = kernel

    def __call__(
        self, device: torch.device, grid: Callable[[dict[str, Any]], tuple[int, ...]], *args, **meta
    ):
        if self.interpreted:
            full = {**self.meta, **meta}
            return self.kernel[lambda _: grid(full)](*args, **full)
        with torch.cuda.device(device):
            return self.kernel[grid](*args, **self.meta, **meta)
