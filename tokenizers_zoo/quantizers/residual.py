"""Residual VQ (SoundStream, EnCodec): each stage quantizes what the previous ones missed.

Fewer stages give a lower bitrate from the same model; quantizer dropout trains every
prefix so any depth decodes well.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.kernels import rvq_encode, select_backend
from tokenizers_zoo.quantizers.base import (
    Quantizer,
    QuantizerOutput,
    QuantizerSpec,
    check_indices,
    full_precision,
    make_projection,
    straight_through,
)
from tokenizers_zoo.quantizers.distributed import broadcast_
from tokenizers_zoo.quantizers.factory import register_quantizer
from tokenizers_zoo.quantizers.vq import VectorQuantizer


@register_quantizer("rvq")
class ResidualVQ(Quantizer):
    """``num_quantizers`` VQ stages on a shared (optionally projected) residual.

    Indices are ``(..., n)`` with the stage axis last, as in vector-quantize-pytorch;
    ``n`` is ``num_quantizers`` unless fewer stages were asked for (the
    ``num_quantizers`` argument of ``forward``) or drawn by quantizer dropout.
    Dropped stages are left out rather than padded with -1, so every id is valid.
    """

    forwards_kwargs_to = VectorQuantizer

    def __init__(
        self,
        dim: int,
        num_quantizers: int,
        codebook_size: int,
        codebook_dim: int | None = None,
        *,
        quantize_dropout: bool = False,
        quantize_dropout_cutoff_index: int = 0,
        **vq_kwargs: Any,
    ) -> None:
        super().__init__()
        if num_quantizers < 1:
            raise ValueError(f"num_quantizers must be >= 1, got {num_quantizers}")
        if not 0 <= quantize_dropout_cutoff_index < num_quantizers:
            raise ValueError("quantize_dropout_cutoff_index must be in [0, num_quantizers)")
        self.dim = dim
        self.codebook_dim = codebook_dim or dim
        self.quantize_dropout = quantize_dropout
        self.quantize_dropout_cutoff_index = quantize_dropout_cutoff_index
        self.project_in = make_projection(dim, self.codebook_dim)
        self.project_out = make_projection(self.codebook_dim, dim)
        self.layers = nn.ModuleList(
            VectorQuantizer(self.codebook_dim, codebook_size, **vq_kwargs) for _ in range(num_quantizers)
        )

    @property
    def codebook_size(self) -> int:
        return self.layers[0].codebook_size

    @property
    def num_codebooks(self) -> int:
        return len(self.layers)

    @classmethod
    def spec_from_arguments(cls, arguments: Mapping[str, Any]) -> QuantizerSpec:
        return QuantizerSpec(arguments["codebook_size"], arguments["num_quantizers"])

    def _stages_to_run(self, num_quantizers: int | None, device: torch.device) -> int:
        total = len(self.layers)
        if num_quantizers is not None:
            if not 1 <= num_quantizers <= total:
                raise ValueError(f"num_quantizers must be in 1..{total}, got {num_quantizers}")
            return num_quantizers
        if not (self.training and self.quantize_dropout):
            return total
        # Every rank must run the same stages, or EMA all-reduces would wait forever.
        drawn = torch.tensor([random.randint(self.quantize_dropout_cutoff_index + 1, total)], device=device)
        return int(broadcast_(drawn))

    def forward(self, x: Tensor, num_quantizers: int | None = None) -> QuantizerOutput:
        self.check_input(x)
        stages = self._stages_to_run(num_quantizers, x.device)
        with full_precision(x):
            z = self.project_in(x.float())
            searched = self._fused_search(z, stages)
            residual = z
            total = torch.zeros_like(z)
            indices, losses, metrics = [], [], {}
            for i, layer in enumerate(self.layers[:stages]):
                out = layer(residual, None if searched is None else searched[..., i])
                residual = residual - out.quantized.detach()
                total = total + out.quantized.detach()
                indices.append(out.indices)
                losses.append(out.loss)
                metrics.update({f"{k}_{i}": v for k, v in out.metrics.items()})
            quantized = self.project_out(straight_through(z, total)).to(x.dtype)
        metrics["num_quantizers"] = torch.tensor(stages)
        return QuantizerOutput(quantized, torch.stack(indices, -1), torch.stack(losses).sum(), metrics)

    def _fused_search(self, z: Tensor, stages: int) -> Tensor | None:
        """All stages' indices from one fused kernel (``rvq_encode``), where Triton runs and
        nothing but the search would differ: in eval, with L2 codebooks. The stages then
        skip their own search; the residuals they see are the kernel's, bit for bit (the
        same fp32 subtractions in the same order), so every output stays the same."""
        layers = self.layers[:stages]
        if self.training or any(layer.use_cosine_sim for layer in layers):
            return None
        if select_backend(z.device) != "triton":
            return None  # elsewhere rvq_encode is the same per-stage search
        codebooks = torch.stack([layer.get_codebook() for layer in layers])
        return rvq_encode(z.detach(), codebooks)[0]

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        if indices.ndim == 0:
            raise InvalidTokensError("residual VQ indices need a trailing stage axis")
        check_indices(indices, [self.codebook_size] * len(self.layers), stacked=True)
        with full_precision(indices):
            total = None
            for layer, column in zip(self.layers, indices.unbind(-1), strict=False):
                codes = layer.indices_to_codes(column)
                total = codes if total is None else total + codes
            return self.project_out(total)
