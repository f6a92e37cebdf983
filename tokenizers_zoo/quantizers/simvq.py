"""SimVQ (Zhu et al. 2024): a frozen random codebook seen through a learned linear map.

Training the map instead of the codes moves the whole codebook at every step, so no
code is left behind: the collapse that dead-code restarts patch in plain VQ.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tokenizers_zoo.kernels import lookup_codes
from tokenizers_zoo.quantizers.base import (
    FullPrecisionLinear,
    Quantizer,
    QuantizerOutput,
    check_indices,
    full_precision,
    usage_metrics,
)
from tokenizers_zoo.quantizers.factory import register_quantizer
from tokenizers_zoo.quantizers.vq import quantize_to_codebook


@register_quantizer("simvq")
class SimVQ(Quantizer):
    def __init__(
        self,
        dim: int,
        codebook_size: int,
        *,
        commitment_weight: float = 0.25,
        codebook_weight: float = 1.0,
        rotation_trick: bool = False,
    ) -> None:
        super().__init__()
        self.dim = dim
        self._codebook_size = codebook_size
        self.commitment_weight = commitment_weight
        self.codebook_weight = codebook_weight
        self.rotation_trick = rotation_trick
        self.register_buffer("frozen_codebook", torch.randn(codebook_size, dim) * dim**-0.5)
        self.codebook_transform = FullPrecisionLinear(dim, dim, bias=False)

    @property
    def codebook_size(self) -> int:
        return self._codebook_size

    def get_codebook(self) -> Tensor:
        return self.codebook_transform(self.frozen_codebook.float())

    def forward(self, x: Tensor) -> QuantizerOutput:
        self.check_input(x)
        with full_precision(x):
            z = x.float().reshape(-1, self.dim)
            output, indices, loss, _ = quantize_to_codebook(
                z,
                self.get_codebook(),
                use_cosine_sim=False,
                commitment_weight=self.commitment_weight,
                codebook_weight=self.codebook_weight,
                use_rotation_trick=self.rotation_trick,
            )
            quantized = output.reshape(x.shape).to(x.dtype)
        metrics = usage_metrics(indices, self.codebook_size)
        return QuantizerOutput(quantized, indices.reshape(x.shape[:-1]), loss, metrics)

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        check_indices(indices, self.codebook_size, stacked=False)
        with full_precision(indices), torch.no_grad():
            return lookup_codes(indices, self.get_codebook())
