"""The torch side of the wire: ``Tokens`` <-> ``EncodedTokens`` and decoded media -> arrays.

Shared by the service's inference thread and the local ``tzoo encode`` / ``tzoo decode``,
so a file written by one reads the same in the other.
"""

from __future__ import annotations

import numpy as np
import torch
from tokenizers_zoo.service.wire import EncodedTokens

from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.media.image import to_uint8
from tokenizers_zoo.tokenizer import Tokenizer
from tokenizers_zoo.tokens import PER_ITEM, Tokens


def to_wire(tokens: Tokens) -> list[EncodedTokens]:
    """One ``EncodedTokens`` per item, each keeping a batch axis of 1."""
    data = tokens.data.detach().cpu()
    if data.is_floating_point() and data.dtype != torch.float64:
        data = data.float()  # numpy has no bfloat16
    batch = tokens.with_data(data)
    return [_encoded(batch[i]) for i in range(len(batch))]


def _encoded(item: Tokens) -> EncodedTokens:
    return EncodedTokens(
        tokenizer=item.tokenizer,
        kind=item.kind,
        data=item.data.numpy(),
        original_size=item.original_size,
        sample_rate=item.sample_rate,
        extras=item.extras,
    )


def from_wire(encoded: EncodedTokens, tokenizer: Tokenizer) -> Tokens:
    """``Tokens`` for ``tokenizer`` (not yet validated: ``tokenizer.validate`` does that).
    Without ``original_size`` the media size is the whole token grid."""
    info = tokenizer.info
    if encoded.tokenizer not in ("", tokenizer.name):
        raise InvalidTokensError(f"the tokens come from {encoded.tokenizer!r}, not from {tokenizer.name!r}")
    if encoded.kind != info.kind:
        raise InvalidTokensError(f"{tokenizer.name} decodes {info.kind} tokens, got {encoded.kind} ones")
    unknown = sorted(set(encoded.extras) - {*tokenizer.options, PER_ITEM})
    if unknown:
        raise InvalidTokensError(f"{tokenizer.name} has no option(s) {unknown} for 'extras'")
    data = torch.from_numpy(np.array(encoded.data))  # a writable copy, owned by torch
    if not encoded.original_size:
        return tokenizer.wrap(data)
    return Tokens(
        tokenizer.name,
        encoded.original_size,
        ids=data if info.kind == "discrete" else None,
        latents=data if info.kind == "continuous" else None,
        sample_rate=encoded.sample_rate or info.sample_rate,
        extras=dict(encoded.extras),
    )


def media_arrays(modality: str, media: torch.Tensor) -> list[np.ndarray]:
    """A decoded batch -> per item uint8 ``(H, W, 3)`` pixels or float32 ``(C, T)`` samples."""
    media = media.detach().cpu()
    if modality == "image":
        return list(to_uint8(media).permute(0, 2, 3, 1).numpy())
    return list(media.float().numpy())
