"""Quantization kernels: nearest-code search and code lookup.

Installed as ``tokenizers_zoo.kernels``. Every quantizer in
``tokenizers_zoo.quantizers`` searches its codebook through ``nearest_code`` so
that a faster backend (a fused Triton kernel on GPU) speeds all of them up at once
without changing a single index.
"""

from tokenizers_zoo.kernels.nearest import Metric, lookup_codes, nearest_code

__all__ = ["Metric", "lookup_codes", "nearest_code"]
