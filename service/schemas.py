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
    #: NTP model name -> loading, ready or failed.
    models: dict[str, str] = {}
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


class ModelSummary(BaseModel):
    """A served NTP model: what it was trained on and what ``generate`` answers with."""

    name: str
    format: str = Field(description="text, class_conditional, caption_conditional or speech_continuation")
    returns: list[str] = Field(description="media types generate gives (Accept)")
    labels: list[str] = Field(description="class names by id (class-conditional models)")
    resolutions: list[str] = Field(description="token grids it draws, HxW (image models)")
    vocabulary: str


class GenerateRequest(BaseModel):
    """What to generate (``ntp.generate.Prompt``): ``class`` for class-conditional models (an id
    or a name), ``caption`` for caption-conditional ones, ``text`` for text models to continue;
    a speech model generates from nothing. A field the model's format does not take is a 422."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"class": 0, "n": 4, "cfg": 2.0}]},
    )

    label: int | str | SkipJsonSchema[None] = Field(
        None, alias="class", description="class id or name", json_schema_extra=_no_default
    )
    caption: str | SkipJsonSchema[None] = Field(None, max_length=10_000, json_schema_extra=_no_default)
    text: str | SkipJsonSchema[None] = Field(None, max_length=10_000, json_schema_extra=_no_default)
    #: at most ``max_batch_items`` (the OpenAPI document says this service's number)
    n: int = Field(1, ge=1, description="samples: images in the grid, texts (one WAV: 1)")
    cfg: float = Field(1.0, ge=0, le=100, description="classifier-free guidance scale (1: none)")
    temperature: float = Field(0.8, ge=0, le=100, description="0: greedy")
    top_k: int = Field(0, ge=0, le=1_000_000)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    resolution: str | SkipJsonSchema[None] = Field(
        None,
        pattern=r"^[1-9][0-9]{0,3}x[1-9][0-9]{0,3}$",
        description="token grid HxW (image models)",
        json_schema_extra=_no_default,
    )
    max_new_tokens: int = Field(200, ge=1, le=1_000_000, description="text models")
    seconds: float = Field(3.0, gt=0, le=86_400, description="speech models: seconds to generate")


class GenerateTextResponse(BaseModel):
    """A text model's answer: one continuation per sample, the prompt first."""

    model: str
    texts: list[str]
