"""Multi-scale residual VQ (VAR, Tian et al. 2024): next-scale prediction tokens.

The feature map is quantized coarse to fine: at each scale the residual is
area-downsampled, quantized against one shared codebook, upsampled back and refined
by a small convolution phi, then subtracted. Tokens of scale k depend only on scales
< k, which is what lets a transformer predict a whole scale at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.info import scale_sizes
from tokenizers_zoo.kernels import lookup_codes, nearest_code
from tokenizers_zoo.quantizers.base import (
    Quantizer,
    QuantizerOutput,
    QuantizerSpec,
    check_indices,
    full_precision,
    straight_through,
    usage_metrics,
)
from tokenizers_zoo.quantizers.factory import register_quantizer

VAR_SCALES = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)


class Phi(nn.Module):
    """``(1 - ratio) * h + ratio * conv3x3(h)``: VAR's residual refinement of a scale."""

    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.ratio = ratio

    def forward(self, h: Tensor) -> Tensor:
        # fp32 whatever the module's dtype, like every quantizer computation.
        refined = F.conv2d(h.float(), self.conv.weight.float(), self.conv.bias.float(), padding=1)
        return (1 - self.ratio) * h + self.ratio * refined


def checked_scales(scales: Sequence[int]) -> list[int]:
    scales = [int(s) for s in scales]
    if not scales or scales != sorted(set(scales)) or scales[0] < 1:
        raise ValueError(f"scales must be increasing positive integers, got {scales}")
    return scales


@register_quantizer("msvq")
class MultiScaleResidualVQ(Quantizer):
    """Input ``(B, H, W, dim)``; indices ``(B, L)``: every scale's ids flattened
    row-major and concatenated coarse to fine (L = 680 for VAR's scales at 16x16).

    Scale ``s`` of ``scales`` (the last is the full map) has size
    ``round(s * H / scales[-1]) x round(s * W / scales[-1])``, so non-square maps work;
    ``indices_to_codes`` needs the full map size when it is not ``scales[-1]`` square.
    ``num_phi`` convolutions are shared between scales by nearest relative depth, as
    VAR shares four.
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        scales: Sequence[int] = VAR_SCALES,
        *,
        commitment_weight: float = 0.25,
        phi_ratio: float = 0.5,
        num_phi: int = 4,
        use_cosine_sim: bool = False,
    ) -> None:
        super().__init__()
        scales = checked_scales(scales)
        self.dim = dim
        self.scales = scales
        self._codebook_size = codebook_size
        self.commitment_weight = commitment_weight
        self.use_cosine_sim = use_cosine_sim
        self.codebook = nn.Parameter(
            torch.empty(codebook_size, dim).uniform_(-1 / codebook_size, 1 / codebook_size)
        )
        self.phis = nn.ModuleList(Phi(dim, phi_ratio) for _ in range(max(1, num_phi)))
        ticks = torch.linspace(1 / (3 * len(self.phis)), 1 - 1 / (3 * len(self.phis)), len(self.phis))
        depth = [k / (len(scales) - 1) if len(scales) > 1 else 0.0 for k in range(len(scales))]
        self._phi_for_scale = [int((ticks - d).abs().argmin()) for d in depth]

    @property
    def codebook_size(self) -> int:
        return self._codebook_size

    @classmethod
    def spec_from_arguments(cls, arguments: Mapping[str, Any]) -> QuantizerSpec:
        return QuantizerSpec(arguments["codebook_size"], scales=tuple(checked_scales(arguments["scales"])))

    def scale_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        return scale_sizes(self.scales, height, width)

    def get_codebook(self) -> Tensor:
        codebook = self.codebook.float()
        return F.normalize(codebook, dim=-1) if self.use_cosine_sim else codebook

    def _contribution(self, k: int, codes: Tensor, full_size: tuple[int, int]) -> Tensor:
        """Scale ``k``'s codes ``(B, h, w, D)`` upsampled and refined to ``(B, D, H, W)``."""
        h = codes.permute(0, 3, 1, 2)
        if tuple(h.shape[-2:]) != full_size:
            h = F.interpolate(h, size=full_size, mode="bicubic", align_corners=False)
        return self.phis[self._phi_for_scale[k]](h)

    def forward(self, x: Tensor) -> QuantizerOutput:
        self.check_input(x)
        if x.ndim != 4:
            raise ValueError(f"MultiScaleResidualVQ expects (B, H, W, {self.dim}), got {tuple(x.shape)}")
        full_size = (x.shape[1], x.shape[2])
        metric = "cosine" if self.use_cosine_sim else "l2"
        with full_precision(x):
            f = x.float().permute(0, 3, 1, 2)
            codebook = self.get_codebook()
            rest = f.detach()
            f_hat = torch.zeros_like(f)
            loss = f.new_zeros(())
            ids = []
            for k, size in enumerate(self.scale_sizes(*full_size)):
                down = F.interpolate(rest, size=size, mode="area") if size != full_size else rest
                idx, _ = nearest_code(down.permute(0, 2, 3, 1), codebook, metric)
                h = self._contribution(k, codebook[idx], full_size)
                f_hat = f_hat + h
                rest = rest - h.detach()
                ids.append(idx.flatten(1))
                # Commitment pulls the encoder to f_hat; the second term trains codebook and phi.
                loss = (
                    loss
                    + self.commitment_weight * F.mse_loss(f, f_hat.detach())
                    + F.mse_loss(f_hat, f.detach())
                )
            loss = loss / len(self.scales)
            out = (
                straight_through(f, f_hat) if torch.is_grad_enabled() and f.requires_grad else f_hat.detach()
            )
            quantized = out.permute(0, 2, 3, 1).to(x.dtype)
        indices = torch.cat(ids, dim=1)
        return QuantizerOutput(quantized, indices, loss, usage_metrics(indices, self.codebook_size))

    def num_tokens(self, height: int, width: int) -> int:
        return sum(h * w for h, w in self.scale_sizes(height, width))

    def split_indices(self, indices: Tensor, size: tuple[int, int] | None = None) -> list[Tensor]:
        """``(B, L)`` ids back into one ``(B, h, w)`` map per scale."""
        full_size = size or (self.scales[-1], self.scales[-1])
        sizes = self.scale_sizes(*full_size)
        expected = sum(h * w for h, w in sizes)
        if indices.ndim != 2 or indices.shape[1] != expected:
            raise InvalidTokensError(
                f"multi-scale indices for a {full_size[0]}x{full_size[1]} map must be (B, {expected}), "
                f"got {tuple(indices.shape)}"
            )
        parts = indices.split([h * w for h, w in sizes], dim=1)
        return [p.reshape(-1, h, w) for p, (h, w) in zip(parts, sizes, strict=True)]

    @torch.no_grad()
    def indices_to_codes(self, indices: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        check_indices(indices, self.codebook_size, stacked=False)
        full_size = tuple(size or (self.scales[-1], self.scales[-1]))
        with full_precision(indices):
            codebook = self.get_codebook()
            f_hat = None
            for k, idx in enumerate(self.split_indices(indices, full_size)):
                h = self._contribution(k, lookup_codes(idx, codebook), full_size)
                f_hat = h if f_hat is None else f_hat + h
            return f_hat.permute(0, 2, 3, 1)

    def indices_to_grid_codes(self, indices: Tensor, grid: tuple[int, int]) -> Tensor:
        """The flat ids do not say the map size, so the grid sizes every scale."""
        return self.indices_to_codes(indices, size=grid)

    def grid_for_token_shape(self, token_shape: tuple[int, ...]) -> tuple[int, int]:
        """Bare ids ``(L,)`` say only their count: the square map with that many tokens."""
        side = self.scales[-1]
        for grid in range(1, 4 * side + 1):
            if self.num_tokens(grid, grid) == token_shape[0]:
                return (grid, grid)
        raise InvalidTokensError(f"{token_shape[0]} multi-scale tokens match no square grid")
