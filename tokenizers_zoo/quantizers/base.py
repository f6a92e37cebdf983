"""What every quantizer returns and offers, and the gradient tricks they share."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tokenizers_zoo.errors import InvalidTokensError


class QuantizerOutput(NamedTuple):
    """``quantized`` has the input's shape and dtype; ``indices`` are int64 codebook ids.

    A NamedTuple so that ``quantized, indices, loss, metrics = quantizer(x)`` works
    like vector-quantize-pytorch's tuple, with names for readers.
    """

    quantized: Tensor
    indices: Tensor
    loss: Tensor
    metrics: dict[str, Tensor]


@contextlib.contextmanager
def full_precision(x: Tensor) -> Iterator[None]:
    """Disable autocast: distances, rounding and losses in bf16/fp16 give NaNs and wrong ids."""
    device_type = x.device.type if x.device.type in ("cuda", "cpu", "xpu", "mps") else "cpu"
    with torch.autocast(device_type=device_type, enabled=False):
        yield


def straight_through(x: Tensor, codes: Tensor) -> Tensor:
    """Forward value is exactly ``codes``; the gradient goes to ``x`` unchanged.

    Written as ``codes + (x - x)`` rather than ``x + (codes - x)`` because the latter
    rounds, and then ``indices_to_codes(indices)`` would not reproduce the output bit
    for bit. The codes are detached: codebooks learn from their own loss term.
    """
    return codes.detach() + (x - x.detach())


def rotation_trick(x: Tensor, codes: Tensor, eps: float = 1e-12) -> Tensor:
    """Fifty et al. 2024: pass the gradient through the rotation and rescaling that maps
    ``x`` onto its code, so it carries the angle between them (plain straight-through
    does not). The forward value is still exactly ``codes``."""
    x_norm = x.norm(dim=-1, keepdim=True)
    code_norm = codes.norm(dim=-1, keepdim=True).detach()
    u = (x / x_norm.clamp_min(eps)).detach()
    q = (codes / code_norm.clamp_min(eps)).detach()
    w = F.normalize(u + q, dim=-1, eps=eps).detach()
    rotated = x - 2 * (x * w).sum(-1, keepdim=True) * w + 2 * (x * u).sum(-1, keepdim=True) * q
    rotated = rotated * (code_norm / x_norm.clamp_min(eps)).detach()
    return codes.detach() + (rotated - rotated.detach())


def check_indices(indices: Tensor, codebook_sizes: list[int] | int, stacked: bool) -> None:
    """Raise ``InvalidTokensError`` for non-integer ids, a wrong stage count or ids out of range.

    ``stacked`` says the last axis enumerates codebooks (RVQ stages, groups); then
    ``codebook_sizes`` gives the allowed number of entries and each one's size.
    """
    if indices.dtype.is_floating_point or indices.dtype == torch.bool or indices.is_complex():
        raise InvalidTokensError(f"indices must be an integer tensor, got {indices.dtype}")
    sizes = [codebook_sizes] if isinstance(codebook_sizes, int) else list(codebook_sizes)
    if stacked:
        if indices.ndim == 0 or not 1 <= indices.shape[-1] <= len(sizes):
            got = "a scalar" if indices.ndim == 0 else f"{indices.shape[-1]} entries"
            raise InvalidTokensError(
                f"indices must end in an axis of 1..{len(sizes)} codebooks, got {got} "
                f"(shape {tuple(indices.shape)})"
            )
        columns = indices.unbind(-1)
    else:
        columns = (indices,)
    for stage, (column, size) in enumerate(zip(columns, sizes, strict=False)):
        if column.numel() == 0:
            continue
        low, high = int(column.min()), int(column.max())
        if low < 0 or high >= size:
            where = f" in codebook {stage}" if stacked else ""
            raise InvalidTokensError(f"index {low if low < 0 else high}{where} is outside 0..{size - 1}")


def usage_metrics(indices: Tensor, codebook_size: int) -> dict[str, Tensor]:
    """Perplexity and the fraction of codes used in this batch: how healthy the codebook is."""
    flat = indices.reshape(-1)
    if flat.numel() == 0:
        zero = torch.zeros((), device=indices.device)
        return {"perplexity": zero, "usage": zero}
    counts = torch.bincount(flat, minlength=codebook_size).float()
    probs = counts / counts.sum()
    entropy = -(probs * torch.log(probs.clamp_min(1e-12))).sum()
    return {"perplexity": entropy.exp(), "usage": (counts > 0).float().mean()}


@dataclass(frozen=True)
class QuantizerSpec:
    """What a quantizer's ids are, without its weights: enough to size a vocabulary.

    ``num_codebooks`` is the length of the trailing index axis (1: no trailing axis);
    ``scales`` is empty unless the ids are a multi-scale (VAR) sequence, then it lists
    the scales coarse to fine, as ``TokenizerInfo.scales`` does.
    """

    codebook_size: int
    num_codebooks: int = 1
    scales: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "codebook_size", int(self.codebook_size))
        object.__setattr__(self, "num_codebooks", int(self.num_codebooks))
        object.__setattr__(self, "scales", tuple(int(s) for s in self.scales))

    @property
    def vocab_size(self) -> tuple[int, ...]:
        """One entry per codebook, as ``TokenizerInfo.vocab_size``."""
        return (self.codebook_size,) * self.num_codebooks


class Quantizer(nn.Module, ABC):
    """Channel-last quantizer: ``forward(x[..., dim]) -> QuantizerOutput``.

    ``num_codebooks`` is the length of the trailing index axis (1 means the ids have
    the input's leading shape, with no trailing axis).

    ``tokenizers_zoo.quantizers.build_quantizer(name, dim, **options)`` builds any
    quantizer registered with ``@register_quantizer(name)`` beside its class, and
    ``describe_quantizer`` says what it would report without building it (from
    ``spec_from_arguments``).
    """

    dim: int
    #: Scales of multi-scale (VAR) ids, coarse to fine; empty for one id per position.
    scales: tuple[int, ...] = ()
    #: The quantizer class that this one's ``**kwargs`` are handed to (every RVQ stage
    #: is a ``VectorQuantizer``), so the factory accepts that class's options too.
    forwards_kwargs_to: ClassVar[type[Quantizer] | None] = None

    @property
    @abstractmethod
    def codebook_size(self) -> int:
        """Entries in each codebook (the vocabulary of one id)."""

    @property
    def num_codebooks(self) -> int:
        return 1

    @property
    def spec(self) -> QuantizerSpec:
        """What this module's ids are; ``describe_quantizer`` gives the same from options."""
        return QuantizerSpec(self.codebook_size, self.num_codebooks, tuple(self.scales))

    @classmethod
    def spec_from_arguments(cls, arguments: Mapping[str, Any]) -> QuantizerSpec:
        """The ``spec`` an instance built with ``arguments`` (every constructor argument
        by name, defaults filled in) will have, computed without building it: a registry
        describes a tokenizer without allocating its model. The default reads a single
        codebook of ``codebook_size``; quantizers whose ids differ override it."""
        if "codebook_size" not in arguments:
            raise NotImplementedError(f"{cls.__name__} must override spec_from_arguments")
        return QuantizerSpec(arguments["codebook_size"])

    @abstractmethod
    def forward(self, x: Tensor) -> QuantizerOutput: ...

    @abstractmethod
    def indices_to_codes(self, indices: Tensor) -> Tensor:
        """The quantized vectors (fp32, ``(..., dim)``) that ``forward`` returns for these ids."""

    # Tokenizers of 2-D feature maps call the two hooks below instead of asking which
    # quantizer they hold: most ids are one per position (with a trailing codebook axis
    # or not), so the grid is their leading axes, but multi-scale ids are one flat
    # coarse-to-fine sequence per item whose length alone does not say the grid.
    def indices_to_grid_codes(self, indices: Tensor, grid: tuple[int, int]) -> Tensor:
        """Codes ``(B, h, w, dim)`` for the ids of ``B`` feature maps of ``grid = (h, w)``.

        ``grid`` is what the ids alone may not say; ids laid out one per position ignore
        it (the default: ``indices_to_codes(indices)``)."""
        return self.indices_to_codes(indices)

    def grid_for_token_shape(self, token_shape: tuple[int, ...]) -> tuple[int, int]:
        """The ``(h, w)`` feature map whose ids per item have ``token_shape``, for bare ids
        that come without a size. One id per position: the leading two axes."""
        return (int(token_shape[0]), int(token_shape[1]))

    def check_input(self, x: Tensor) -> None:
        if not x.is_floating_point():
            raise ValueError(f"{type(self).__name__} expects a float tensor, got {x.dtype}")
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise ValueError(
                f"{type(self).__name__} expects channel-last input (..., {self.dim}), "
                f"got shape {tuple(x.shape)}"
            )


class FullPrecisionLinear(nn.Linear):
    """A linear layer that computes in fp32 whatever its weights' dtype, so a quantizer
    cast to bf16 with the rest of a model still quantizes (and never mixes dtypes)."""

    def forward(self, x: Tensor) -> Tensor:
        bias = None if self.bias is None else self.bias.float()
        return F.linear(x.float(), self.weight.float(), bias)


def make_projection(dim_in: int, dim_out: int, bias: bool = True) -> nn.Module:
    """A linear map between the feature and codebook spaces, or nothing when they match."""
    return FullPrecisionLinear(dim_in, dim_out, bias=bias) if dim_in != dim_out else nn.Identity()
