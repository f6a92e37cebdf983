"""Quantization kernels: nearest-code search, residual VQ, FSQ, LFQ and code lookup.

Installed as ``tokenizers_zoo.kernels``. Every quantizer in
``tokenizers_zoo.quantizers`` goes through these functions, so a faster backend speeds
all of them up at once without changing a single index. CUDA tensors run fused Triton
kernels; CPU tensors run the fastest measured CPU path (faiss-cpu or torch);
``TZOO_KERNELS=triton|torch|faiss`` forces one (see ``dispatch``).
"""

from tokenizers_zoo.kernels.dispatch import KernelBackendError, select_backend
from tokenizers_zoo.kernels.lookup import lookup_codes
from tokenizers_zoo.kernels.nearest import Metric, nearest_code
from tokenizers_zoo.kernels.rvq import rvq_encode
from tokenizers_zoo.kernels.scalar import fsq_quantize, lfq_quantize

__all__ = [
    "KernelBackendError",
    "Metric",
    "fsq_quantize",
    "lfq_quantize",
    "lookup_codes",
    "nearest_code",
    "rvq_encode",
    "select_backend",
]
