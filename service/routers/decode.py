"""``POST /v1/tokenizers/{name}/decode``: tokens (JSON as encode answers, or ``.npy`` with
``X-Tzoo-*`` headers) -> the media, in the type ``Accept`` asks for (PNG or WAV by default)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tokenizers_zoo.errors import MalformedBodyError, UnsupportedMediaTypeError
from tokenizers_zoo.formats import JSON, NPY, media_type, returned_types
from tokenizers_zoo.info import MODALITIES
from tokenizers_zoo.media.files import render_media
from tokenizers_zoo.service.deadlines import within_deadline
from tokenizers_zoo.service.dependencies import Served, State
from tokenizers_zoo.service.engine import ServedTokenizer
from tokenizers_zoo.service.negotiation import negotiate
from tokenizers_zoo.service.problems import problem_responses
from tokenizers_zoo.wire import (
    H_EXTRAS,
    H_KIND,
    H_ORIGINAL_SIZE,
    H_SAMPLE_RATE,
    H_TOKENIZER,
    MAX_SAMPLE_RATE,
    EncodedTokens,
)

router = APIRouter(prefix="/v1/tokenizers", tags=["decode"])

_BINARY = {"schema": {"type": "string", "format": "binary"}}
#: What the served modalities decode to (the service reads images and audio).
_OUT_TYPES = sorted({t for m in MODALITIES for t in returned_types(m)} - {NPY})


@router.post(
    "/{name}/decode",
    response_class=Response,
    responses={
        200: {"description": "the media", "content": {t: _BINARY for t in [*_OUT_TYPES, NPY]}},
        **problem_responses(400, 401, 404, 406, 408, 413, 415, 422, 429, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                JSON: {"schema": {"$ref": "#/components/schemas/TokensBody"}},
                NPY: _BINARY,
            },
        },
        # What an .npy body's metadata headers hold (a JSON body carries it in the body).
        "parameters": [
            {"name": H_TOKENIZER, "in": "header", "required": False, "schema": {"type": "string"}},
            {
                "name": H_KIND,
                "in": "header",
                "required": False,
                "schema": {"type": "string", "enum": ["discrete", "continuous"]},
            },
            {
                "name": H_ORIGINAL_SIZE,
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": "^[1-9][0-9]*(,[1-9][0-9]*)*$"},
                "description": "comma-separated sizes, e.g. 256,256 (pixels) or 16000 (samples)",
            },
            {
                "name": H_SAMPLE_RATE,
                "in": "header",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_SAMPLE_RATE},
            },
            {
                "name": H_EXTRAS,
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "a JSON object: the encode options the tokens were made with",
            },
        ],
    },
)
async def decode(request: Request, tokenizer: Served, state: State) -> Response:
    """Tokens -> media. A ``.npy`` body needs ``X-Tzoo-Kind`` at least; without
    ``X-Tzoo-Original-Size`` the whole token grid is decoded."""
    modality = tokenizer.info.modality
    answer = negotiate(request.headers.get("accept"), returned_types(modality))
    body = await request.body()
    tokens = await run_in_threadpool(_parse_tokens, tokenizer, body, request.headers)
    work = tokenizer.decode(tokens)
    media = await within_deadline(
        request, work, state.settings.request_timeout_s, state.metrics, tokenizer.name
    )
    rate = tokens.sample_rate or tokenizer.info.sample_rate
    fps = tokens.extras.get("fps")  # a video's source rate, kept by encode
    data = await run_in_threadpool(render_media, modality, media, answer, rate, fps)
    return Response(data, media_type=answer, headers={"Vary": "Accept"})


def _parse_tokens(tokenizer: ServedTokenizer, body: bytes, headers: Any) -> EncodedTokens:
    kind = media_type(headers.get("content-type"))
    if kind == NPY:
        return EncodedTokens.from_npy(body, headers, tokenizer.name)
    if kind not in (JSON, ""):
        raise UnsupportedMediaTypeError(f"decode takes {JSON} or {NPY}, got {kind!r}")
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise MalformedBodyError(f"the body is not JSON: {exc}") from exc
    return EncodedTokens.from_json(parsed)
