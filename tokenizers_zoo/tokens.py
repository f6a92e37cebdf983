"""The container that travels between ``encode`` and ``decode``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from tokenizers_zoo.errors import InvalidTokensError

#: The ``extras`` key for what encoding measured about each item, as opposed to settings of
#: the whole call: a list with one JSON-able dict per item (EnCodec 48 kHz keeps each item's
#: loudness scales there, without which its ids cannot be decoded). Taking items of a batch
#: takes their entries, so a split batch still decodes.
PER_ITEM = "per_item"


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (nested lists), the shape the service answers with."""
        body: dict[str, Any] = {
            "tokenizer": self.tokenizer,
            "kind": self.kind,
            "shape": list(self.shape),
            "dtype": str(self.data.dtype).removeprefix("torch."),
            "original_size": list(self.original_size),
            "sample_rate": self.sample_rate,
            "extras": self.extras,
        }
        body["ids" if self.ids is not None else "latents"] = self.data.cpu().tolist()
        return body

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Tokens:
        """Inverse of ``to_dict``; malformed bodies raise ``InvalidTokensError``."""
        try:
            has_ids = "ids" in body
            if has_ids == ("latents" in body):
                raise InvalidTokensError("token JSON needs exactly one of 'ids' or 'latents'")
            values = body["ids"] if has_ids else body["latents"]
            data = torch.tensor(values, dtype=torch.int64 if has_ids else torch.float32)
            if "shape" in body and list(data.shape) != list(body["shape"]):
                raise InvalidTokensError(
                    f"token JSON shape {body['shape']} does not match its data {list(data.shape)}"
                )
            return cls(
                tokenizer=str(body["tokenizer"]),
                original_size=tuple(body["original_size"]),
                ids=data if has_ids else None,
                latents=None if has_ids else data,
                sample_rate=body.get("sample_rate"),
                extras=dict(body.get("extras") or {}),
            )
        except InvalidTokensError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as exc:
            raise InvalidTokensError(f"malformed token JSON: {exc}") from exc
