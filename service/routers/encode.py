"""``POST /v1/tokenizers/{name}/encode`` (one item) and ``.../encode/batch`` (many).

One item: the raw media with its Content-Type, or multipart/form-data with a ``file``
field; the answer is JSON or ``.npy`` by ``Accept``. Many: a JSON list of base64 files,
or several ``file`` fields; the items queue separately, so they batch with each other
and with other requests, and each gets its own result or problem.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import Response

from tokenizers_zoo.formats import JSON, NPY, accepted_types, media_type
from tokenizers_zoo.info import MODALITIES
from tokenizers_zoo.media.files import read_media
from tokenizers_zoo.service.deadlines import within_deadline
from tokenizers_zoo.service.dependencies import Served, State
from tokenizers_zoo.service.engine import ServedTokenizer
from tokenizers_zoo.service.negotiation import negotiate
from tokenizers_zoo.service.problems import (
    MALFORMED,
    TOO_LARGE,
    ProblemError,
    as_problem,
    problem_body,
    problem_responses,
)
from tokenizers_zoo.service.schemas import BatchEncodeRequest, BatchEncodeResponse
from tokenizers_zoo.wire import H_SAMPLE_RATE, MAX_SAMPLE_RATE, TOKEN_HEADERS, EncodedTokens

router = APIRouter(prefix="/v1/tokenizers", tags=["encode"])

MULTIPART = "multipart/form-data"
#: Bodies up to this size are parsed on the event loop (a 128x128 PNG decodes in ~0.2 ms).
INLINE_PARSE_BYTES = 256 * 1024
BATCH_PATH = "/v1/tokenizers/{name}/encode/batch"
_BINARY = {"schema": {"type": "string", "format": "binary"}}
#: What the served modalities take (the service reads images and audio).
_MEDIA_TYPES = sorted({t for m in MODALITIES for t in accepted_types(m)} - {NPY})
_FILE = {"type": "string", "format": "binary", "description": "its part's Content-Type chooses the decoder"}
#: Multipart as the server reads it: only 'file' fields, each a file part with a media type.
_ENCODING = {"file": {"contentType": ", ".join([*_MEDIA_TYPES, NPY])}}
_ONE_FILE = {
    "schema": {
        "type": "object",
        "properties": {"file": _FILE},
        "required": ["file"],
        "additionalProperties": False,
    },
    "encoding": _ENCODING,
}
_FILES = {
    "schema": {
        "type": "object",
        "properties": {"file": {"type": "array", "items": _FILE, "minItems": 1}},  # maxItems: openapi.py
        "required": ["file"],
        "additionalProperties": False,
    },
    "encoding": _ENCODING,
}
#: The metadata of an .npy answer (decode reads the same headers back).
_TOKEN_HEADERS = {
    name: {"required": False, "schema": {"type": "integer" if name == H_SAMPLE_RATE else "string"}}
    for name in TOKEN_HEADERS
}
SampleRate = Annotated[
    int | None, Query(gt=0, le=MAX_SAMPLE_RATE, description="rate of raw samples sent as .npy (audio)")
]


@router.post(
    "/{name}/encode",
    response_class=Response,
    responses={
        200: {
            "description": "tokens as JSON, or as .npy with the metadata in X-Tzoo-* headers",
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/TokensBody"}}, NPY: _BINARY},
            "headers": _TOKEN_HEADERS,
        },
        **problem_responses(400, 401, 404, 406, 408, 413, 415, 422, 429, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {**{t: _BINARY for t in _MEDIA_TYPES}, NPY: _BINARY, MULTIPART: _ONE_FILE},
        }
    },
)
async def encode(
    request: Request, tokenizer: Served, state: State, sample_rate: SampleRate = None
) -> Response:
    """Media -> tokens. Encode options of the tokenizer are query parameters; raw samples in
    ``.npy`` need ``sample_rate``."""
    answer = negotiate(request.headers.get("accept"), [JSON, NPY])
    body, content_type = await _one_upload(request)
    options = tokenizer.options_from_query(request.query_params)
    work = _encode(tokenizer, body, content_type, sample_rate, options)
    timeout = state.settings.request_timeout_s
    tokens = await within_deadline(request, work, timeout, state.metrics, tokenizer.name)
    if answer == NPY:
        return Response(tokens.to_npy(), media_type=NPY, headers={**tokens.headers(), "Vary": "Accept"})
    text = await run_in_threadpool(json.dumps, tokens.to_json())
    return Response(text, media_type=JSON, headers={"Vary": "Accept"})


@router.post(
    BATCH_PATH.removeprefix(router.prefix),
    response_model=BatchEncodeResponse,
    response_model_exclude_unset=True,  # a result has 'tokens' or 'error', not the other as null
    responses=problem_responses(400, 401, 404, 408, 413, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                JSON: {"schema": {"$ref": "#/components/schemas/BatchEncodeRequest"}},
                MULTIPART: _FILES,
            },
        }
    },
)
async def encode_batch(
    request: Request, tokenizer: Served, state: State, sample_rate: SampleRate = None
) -> BatchEncodeResponse:
    """Many media files -> one result per item, in order: ``tokens`` or ``error`` (a problem)."""
    uploads = await _many_uploads(request, state.settings.max_batch_items)
    options = tokenizer.options_from_query(request.query_params)

    async def one(body: bytes | Exception, content_type: str | None) -> EncodedTokens:
        if isinstance(body, Exception):
            raise body
        return await _encode(tokenizer, body, content_type, sample_rate, options)

    work = asyncio.gather(*(one(b, t) for b, t in uploads), return_exceptions=True)
    timeout = state.settings.request_timeout_s
    outcomes = await within_deadline(request, work, timeout, state.metrics, tokenizer.name)
    results: list[dict[str, Any]] = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, EncodedTokens):
            results.append({"index": index, "tokens": outcome.to_json()})
        elif isinstance(outcome, Exception):
            results.append({"index": index, "error": problem_body(as_problem(outcome))})
        else:  # CancelledError and other BaseExceptions are not per-item outcomes
            raise outcome
    return BatchEncodeResponse.model_validate({"tokenizer": tokenizer.name, "results": results})


async def _encode(
    tokenizer: ServedTokenizer,
    body: bytes,
    content_type: str | None,
    sample_rate: int | None,
    options: dict[str, Any],
) -> EncodedTokens:
    """Parse one item's media (on a worker thread when large: small files decode faster than
    a thread hop) and queue it for the model."""
    args = (tokenizer.info.modality, content_type, body, tokenizer.limits, sample_rate)
    if len(body) > INLINE_PARSE_BYTES or tokenizer.info.modality == "video":  # frames decode slowly
        media = await run_in_threadpool(read_media, *args)
    else:
        media = read_media(*args)
    if media.fps is not None:  # a video file's own rate, kept for decoding
        options = {"fps": media.fps, **options}
    return await tokenizer.encode(media, options)


async def _one_upload(request: Request) -> tuple[bytes, str | None]:
    """The media of a single-item request: the raw body, or the one ``file`` field."""
    if media_type(request.headers.get("content-type")) != MULTIPART:
        return await request.body(), request.headers.get("content-type")
    files = await _form_files(request, max_files=1)
    if len(files) != 1:
        raise ProblemError(MALFORMED, "a multipart body needs exactly one 'file' field")
    return files[0]


async def _many_uploads(request: Request, max_items: int) -> list[tuple[bytes | Exception, str | None]]:
    """The items of a batch request; an item whose base64 is broken carries its error."""
    if media_type(request.headers.get("content-type")) == MULTIPART:
        items: list[tuple[bytes | Exception, str | None]] = list(await _form_files(request, max_items))
    else:
        try:
            parsed = BatchEncodeRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise ProblemError(
                MALFORMED, f"expected JSON {{'items': [{{data, content_type}}]}}: {exc}"
            ) from exc
        items = [(_b64(item.data, index), item.content_type) for index, item in enumerate(parsed.items)]
    if not items:
        raise ProblemError(MALFORMED, "the batch has no items")
    if len(items) > max_items:
        raise ProblemError(TOO_LARGE, f"{len(items)} items are over the limit of {max_items} per batch")
    return items


def _b64(data: str, index: int) -> bytes | Exception:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        return ProblemError(MALFORMED, f"item {index}: 'data' is not valid base64: {exc}")


async def _form_files(request: Request, max_files: int) -> list[tuple[bytes, str | None]]:
    """The ``file`` parts of a multipart body, as the OpenAPI document says: file uploads
    only (a plain field is refused while parsing, max_fields=0), all named ``file``."""
    form = await request.form(max_files=max_files, max_fields=0)
    try:
        unknown = sorted(set(form.keys()) - {"file"})
        if unknown:
            raise ProblemError(MALFORMED, f"multipart bodies take only 'file' fields, not {unknown}")
        files = []
        for value in form.getlist("file"):
            if not isinstance(value, UploadFile):
                raise ProblemError(MALFORMED, "each 'file' field must be a file upload")
            files.append((await value.read(), value.content_type))
        return files
    finally:
        await form.close()
