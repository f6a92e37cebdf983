"""The container that travels between ``encode`` and ``decode``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.wire import PER_ITEM, EncodedTokens


@dataclass
class Tokens:
    """A batch of tokens plus what decoding needs.

    Exactly one of ``ids`` (int64, discrete) and ``latents`` (float, continuous) is
    set; both carry a leading batch axis. ``original_size`` is the media size of one
    item before padding (``(H, W)``, ``(T, H, W)`` or ``(samples,)``), so decoding
    crops back to it. ``extras`` holds per-call settings that change the tokens
    (for example an audio codec's bandwidth) and, under ``PER_ITEM``, what decoding needs to
    know about each item.
    """

    tokenizer: str
    original_size: tuple[int, ...]
    ids: Tensor | None = None
    latents: Tensor | None = None
    sample_rate: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.ids is None) == (self.latents is None):
            raise InvalidTokensError("Tokens needs exactly one of ids or latents")
        if self.ids is not None and (self.ids.is_floating_point() or self.ids.is_complex()):
            raise InvalidTokensError(f"ids must be integers, got {self.ids.dtype}")
        if self.latents is not None and not self.latents.is_floating_point():
            raise InvalidTokensError(f"latents must be floating point, got {self.latents.dtype}")
        if self.data.ndim < 2:
            raise InvalidTokensError(
                f"tokens need a batch axis and at least one token axis, got shape {tuple(self.data.shape)}"
            )
        # Tokens read back from a file are contiguous; the ones an encoder returns often are a
        # permuted view. Decoders (convolutions) take other paths for other layouts, and their
        # results differ in the last bits, so the layout is fixed here: the same tokens decode
        # to the same bytes wherever they came from.
        if self.ids is not None:
            self.ids = self.ids.contiguous()
        else:
            self.latents = self.latents.contiguous()
        self.original_size = tuple(int(s) for s in self.original_size)
        per_item = self.extras.get(PER_ITEM)
        if per_item is not None and (not isinstance(per_item, list) or len(per_item) != len(self)):
            raise InvalidTokensError(
                f"extras[{PER_ITEM!r}] must be a list with one entry per item ({len(self)}), got {per_item!r}"
            )

    @property
    def kind(self) -> str:
        return "discrete" if self.ids is not None else "continuous"

    @property
    def data(self) -> Tensor:
        """``ids`` or ``latents``, whichever this batch holds."""
        return self.ids if self.ids is not None else self.latents  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index: int | slice) -> Tokens:
        """Items of the batch, keeping the batch axis (``tokens[0]`` has batch size 1)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        extras = dict(self.extras)
        if PER_ITEM in extras:
            extras[PER_ITEM] = extras[PER_ITEM][index]
        return self._around(self.data[index], extras)

    @classmethod
    def concat(cls, parts: Sequence[Tokens]) -> Tokens:
        """One batch from several with the same metadata (their per-item extras joined)."""
        extras = dict(parts[0].extras)
        if PER_ITEM in extras:
            extras[PER_ITEM] = [entry for part in parts for entry in part.extras[PER_ITEM]]
        return parts[0]._around(torch.cat([part.data for part in parts]), extras)

    def _around(self, data: Tensor, extras: dict[str, Any]) -> Tokens:
        if self.ids is not None:
            return replace(self, ids=data, latents=None, extras=extras)
        return replace(self, ids=None, latents=data, extras=extras)

    def with_data(self, data: Tensor) -> Tokens:
        """The same metadata around other ids or latents."""
        return self._around(data, dict(self.extras))

    def to(self, device: torch.device | str) -> Tokens:
        return self.with_data(self.data.to(device))

    def to_encoded(self) -> EncodedTokens:
        """The numpy form the token codec (``tokenizers_zoo.wire``) writes as JSON, ``.npy``
        or files; bfloat16 and float16 latents become float32, which numpy and JSON hold."""
        data = self.data.detach().cpu()
        if data.is_floating_point() and data.dtype not in (torch.float32, torch.float64):
            data = data.float()
        return EncodedTokens(
            tokenizer=self.tokenizer,
            kind=self.kind,
            data=data.numpy(),
            original_size=self.original_size,
            sample_rate=self.sample_rate,
            extras=self.extras,
        )

    def encoded_items(self) -> list[EncodedTokens]:
        """One ``EncodedTokens`` per item, each keeping a batch axis of 1 (and its per-item
        extras): what the service answers per request."""
        batch = self.to("cpu")
        return [batch[i].to_encoded() for i in range(len(batch))]

    @classmethod
    def from_encoded(cls, encoded: EncodedTokens) -> Tokens:
        """Inverse of ``to_encoded``; the arrays are copied, so torch owns writable memory."""
        if not encoded.original_size:
            raise InvalidTokensError("tokens need 'original_size' (the media size before padding)")
        data = torch.from_numpy(np.array(encoded.data))
        return cls(
            tokenizer=encoded.tokenizer,
            original_size=encoded.original_size,
            ids=data if encoded.kind == "discrete" else None,
            latents=data if encoded.kind == "continuous" else None,
            sample_rate=encoded.sample_rate,
            extras=dict(encoded.extras),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (nested lists), the shape the service answers with."""
        return self.to_encoded().to_json()

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Tokens:
        """Inverse of ``to_dict``; malformed bodies raise ``InvalidTokensError``."""
        return cls.from_encoded(EncodedTokens.from_json(body))
