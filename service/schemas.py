"""Pydantic models of the JSON bodies: what ``/openapi.json`` documents and clients get.

Media and ``.npy`` bodies are raw bytes and are described in the routes'
``openapi_extra`` instead.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


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


class TokensBody(BaseModel):
    """Tokens of one item as encode answers and decode takes them (``ids`` for discrete
    tokenizers, ``latents`` for continuous ones; both with a batch axis of 1)."""

    tokenizer: str = ""
    kind: Literal["discrete", "continuous"] | None = None
    shape: list[int] | None = None
    dtype: str | None = None
    original_size: list[int] | None = Field(None, description="media size before padding; decode crops to it")
    sample_rate: int | None = None
    extras: dict[str, Any] = {}
    ids: list[Any] | None = None
    latents: list[Any] | None = None


class BatchItem(BaseModel):
    data: str = Field(description="the media file, base64-encoded")
    content_type: str = Field(examples=["image/png"])


class BatchEncodeRequest(BaseModel):
    items: list[BatchItem]


class BatchResult(BaseModel):
    """``tokens`` when the item was encoded, else ``error``."""

    index: int
    tokens: TokensBody | None = None
    error: Problem | None = None


class BatchEncodeResponse(BaseModel):
    tokenizer: str
    results: list[BatchResult]
