"""Grouped (product) VQ: split the channels into groups, each with its own codebook.

G groups of K codes address K^G combinations with G*K stored vectors, which is how
large effective vocabularies stay cheap to search.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.quantizers.base import Quantizer, QuantizerOutput, QuantizerSpec, check_indices
from tokenizers_zoo.quantizers.factory import register_quantizer
from tokenizers_zoo.quantizers.vq import VectorQuantizer


@register_quantizer("grouped")
class GroupedVQ(Quantizer):
    """Indices are ``(..., groups)``, group order following channel order."""

    forwards_kwargs_to = VectorQuantizer

    def __init__(self, dim: int, codebook_size: int, groups: int, **vq_kwargs: Any) -> None:
        super().__init__()
        if groups < 1 or dim % groups:
            raise ValueError(f"dim ({dim}) must split into {groups} equal groups")
        self.dim = dim
        self.groups = groups
        self.layers = nn.ModuleList(
            VectorQuantizer(dim // groups, codebook_size, **vq_kwargs) for _ in range(groups)
        )

    @property
    def codebook_size(self) -> int:
        return self.layers[0].codebook_size

    @property
    def num_codebooks(self) -> int:
        return self.groups

    @classmethod
    def spec_from_arguments(cls, arguments: Mapping[str, Any]) -> QuantizerSpec:
        return QuantizerSpec(arguments["codebook_size"], arguments["groups"])

    def forward(self, x: Tensor) -> QuantizerOutput:
        self.check_input(x)
        outs = [layer(part) for layer, part in zip(self.layers, x.chunk(self.groups, -1), strict=True)]
        metrics = {f"{k}_{i}": v for i, out in enumerate(outs) for k, v in out.metrics.items()}
        return QuantizerOutput(
            torch.cat([o.quantized for o in outs], -1),
            torch.stack([o.indices for o in outs], -1),
            torch.stack([o.loss for o in outs]).sum(),
            metrics,
        )

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        check_indices(indices, [self.codebook_size] * self.groups, stacked=True)
        if indices.shape[-1] != self.groups:
            raise InvalidTokensError(f"grouped VQ needs all {self.groups} group ids per vector")
        columns = indices.unbind(-1)
        return torch.cat(
            [layer.indices_to_codes(c) for layer, c in zip(self.layers, columns, strict=True)], -1
        )
