"""One Triton kernel, two ways to run it: compiled on CUDA, interpreted on CPU.

``@triton.jit`` decides between the two once, at import, from ``TRITON_INTERPRET``.
Here both are kept, so a test session can check the interpreter on CPU tensors and
the compiled kernel on CUDA tensors side by side, and setting ``TRITON_INTERPRET=1``
after import still works. Kernels must not call other ``@triton.jit`` functions: a
compiled helper cannot be called from interpreted code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import triton
from triton.runtime import interpreter
from triton.runtime.interpreter import InterpretedFunction
from triton.runtime.jit import JITFunction


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


class DualKernel:
    """``kernel(device, grid, *args, **meta)`` runs ``fn`` on the tensors' device.

    On CUDA the kernel is compiled with ``compiled_meta`` and, when ``configs`` are
    given, autotuned over them (keyed by ``key``). On CPU it is interpreted with
    ``interpret_meta`` (small blocks: the interpreter runs every block in numpy).
    ``grid`` maps the meta-parameters in force to the launch grid.
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
        compiled: Any = JITFunction(fn)
        if configs:
            compiled = triton.autotune(list(configs), key=list(key), prune_configs_by=prune_configs_by)(
                compiled
            )
        self.compiled = compiled
        _index_scalars_with_item()
        self.interpreted = InterpretedFunction(fn)
        self.compiled_meta = compiled_meta or {}
        self.interpret_meta = interpret_meta or {}

    def __call__(
        self, device: torch.device, grid: Callable[[dict[str, Any]], tuple[int, ...]], *args, **meta
    ):
        if device.type == "cuda":
            with torch.cuda.device(device):
                return self.compiled[grid](*args, **self.compiled_meta, **meta)
        full_meta = {**self.interpret_meta, **meta}
        return self.interpreted[lambda _: grid(full_meta)](*args, **full_meta)
