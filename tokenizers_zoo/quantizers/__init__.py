"""Quantizers: channel-last modules that turn vectors into codebook ids and back.

Every quantizer returns ``QuantizerOutput(quantized, indices, loss, metrics)`` and
offers ``indices_to_codes(indices)`` (exactly the ``quantized`` of ``forward`` in
eval) and ``codebook_size``. ``build_quantizer(name, dim, **options)`` builds any of
them by name (``quantizer_names()``), and ``describe_quantizer`` gives the
``QuantizerSpec`` it would report without building it.
"""

from tokenizers_zoo.quantizers.base import Quantizer, QuantizerOutput, QuantizerSpec
from tokenizers_zoo.quantizers.convert import from_vector_quantize_pytorch
from tokenizers_zoo.quantizers.factory import (
    build_quantizer,
    describe_quantizer,
    quantizer_names,
    register_quantizer,
)
from tokenizers_zoo.quantizers.fsq import FSQ
from tokenizers_zoo.quantizers.grouped import GroupedVQ
from tokenizers_zoo.quantizers.lfq import BSQ, LFQ
from tokenizers_zoo.quantizers.multiscale import VAR_SCALES, MultiScaleResidualVQ
from tokenizers_zoo.quantizers.residual import ResidualVQ
from tokenizers_zoo.quantizers.simvq import SimVQ
from tokenizers_zoo.quantizers.vq import VectorQuantizer

__all__ = [
    "BSQ",
    "FSQ",
    "GroupedVQ",
    "LFQ",
    "MultiScaleResidualVQ",
    "Quantizer",
    "QuantizerOutput",
    "QuantizerSpec",
    "ResidualVQ",
    "SimVQ",
    "VAR_SCALES",
    "VectorQuantizer",
    "build_quantizer",
    "describe_quantizer",
    "from_vector_quantize_pytorch",
    "quantizer_names",
    "register_quantizer",
]
