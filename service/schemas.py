"""Pydantic models of the JSON bodies: what ``/openapi.json`` documents and clients get.

Media and ``.npy`` bodies are raw bytes and are described in the routes'
``openapi_extra`` instead.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from tokenizers_zoo.wire import MAX_SAMPLE_RATE


class Problem(BaseModel):
    """RFC 9457 problem details; ``type`` is stable, ``detail`` is for people."""

    type: str = Field(examples=["urn:tokenizers-zoo:problem:unknown-tokenizer"])
    title: str
    status: int
    detail: str
    instance: str | None = None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not-ready"]
    #: name -> loading, ready, failed or skipped.
    tokenizers: dict[str, str]
    errors: dict[str, str] = {}


class TokenizerSummary(BaseModel):
    name: str
    modality: str
    kind: str
    description: str


class TokenizerDetail(TokenizerSummary):
    """``TokenizerInfo`` plus what the service does with it."""

    vocab_size: list[int]
    num_codebooks: int
    latent_dim: int | None
    spatial_factor: int
    temporal_factor: int
    sample_rate: int | None
    channels: int
    options: list[str] = Field(description="encode options, passed as query parameters")
    accepts: list[str] = Field(description="media types encode takes (Content-Type)")
    returns: list[str] = Field(description="media types decode gives (Accept)")


def _no_default(schema: dict[str, Any]) -> None:
    """A field that may be left out but is never null documents no ``default: null``."""
    schema.pop("default", None)


#: Exactly one of ``ids`` and ``latents``, and ``kind`` (when given) saying which.
_ONE_OF_IDS_OR_LATENTS = [
    {"required": ["ids"], "not": {"required": ["latents"]}, "properties": {"kind": {"const": "discrete"}}},
    {"required": ["latents"], "not": {"required": ["ids"]}, "properties": {"kind": {"const": "continuous"}}},
]


class TokensBody(BaseModel):
    """Tokens of one item as encode answers and decode takes them (``wire.EncodedTokens``
    checks them): ``ids`` for discrete tokenizers or ``latents`` for continuous ones, exactly
    one, as nested lists with a batch axis of 1. ``SkipJsonSchema[None]``: a field may be
    left out, but when given it is never null."""

    model_config = ConfigDict(json_schema_extra={"oneOf": _ONE_OF_IDS_OR_LATENTS})

    tokenizer: str = ""
    kind: Literal["discrete", "continuous"] | SkipJsonSchema[None] = Field(
        None, json_schema_extra=_no_default
    )
    shape: list[Annotated[int, Field(ge=0)]] | None = None
    dtype: str | None = None
    original_size: list[Annotated[int, Field(ge=1)]] | None = Field(
        None, description="media size before padding; decode crops to it"
    )
    sample_rate: Annotated[int, Field(ge=1, le=MAX_SAMPLE_RATE)] | None = None
    extras: dict[str, Any] = {}
    ids: list[Any] | SkipJsonSchema[None] = Field(
        None, description="integer ids, e.g. [[[1, 2], [3, 4]]]", json_schema_extra=_no_default
    )
    latents: list[Any] | SkipJsonSchema[None] = Field(
        None, description="numbers, e.g. [[[0.5, -1.2]]]", json_schema_extra=_no_default
    )


class BatchItem(BaseModel):
    data: str = Field(description="the media file, base64-encoded")
    content_type: str = Field(examples=["image/png"], description="chooses the decoder, as Content-Type does")


#: An 8 x 8 grey PNG: the example a reader (or a fuzzer) can send to an image tokenizer.
EXAMPLE_PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAFElEQVR4nGNsaGhgwAaYsIoOWgkAMBcBkGHHl6YAAAAASUVORK5CYII="
)


class BatchEncodeRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [{"data": EXAMPLE_PNG_BASE64, "content_type": "image/png"}]}]
        }
    )

    #: at most ``max_batch_items`` (the OpenAPI document says this service's number)
    items: list[BatchItem] = Field(min_length=1)


class BatchResult(BaseModel):
    """``tokens`` when the item was encoded, else ``error``."""

    index: int
    tokens: TokensBody | None = None
    error: Problem | None = None


class BatchEncodeResponse(BaseModel):
    tokenizer: str
    results: list[BatchResult]
