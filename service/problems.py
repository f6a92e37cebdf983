"""Errors as ``application/problem+json`` (RFC 9457), each with a stable ``type``.

Every exception a request can raise maps to one problem type here, so clients can
branch on ``type`` (or the status) and show ``detail`` to a person. Only a bug gives a
500; user input never does.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from tokenizers_zoo.errors import (
    EncodeOnlyError,
    InvalidMediaError,
    InvalidTokensError,
    MalformedBodyError,
    MediaTooLargeError,
    NotAcceptableError,
    TokenizersZooError,
    UnknownTokenizerError,
    UnsupportedMediaTypeError,
)
from tokenizers_zoo.formats import PROBLEM_JSON
from tokenizers_zoo.service.batching import BatcherClosedError, QueueFullError
from tokenizers_zoo.service.schemas import Problem

log = logging.getLogger("tokenizers_zoo.service")

TYPE_PREFIX = "urn:tokenizers-zoo:problem:"


@dataclass(frozen=True)
class ProblemType:
    status: int
    slug: str
    title: str

    @property
    def uri(self) -> str:
        return TYPE_PREFIX + self.slug


MALFORMED = ProblemType(400, "malformed-body", "The request body cannot be parsed")
BAD_PARAMETER = ProblemType(400, "bad-parameter", "A query parameter or header is invalid")
UNAUTHORIZED = ProblemType(401, "unauthorized", "Missing or wrong API key")
NOT_FOUND = ProblemType(404, "not-found", "No such resource")
UNKNOWN_TOKENIZER = ProblemType(404, "unknown-tokenizer", "This service has no tokenizer of that name")
UNKNOWN_MODEL = ProblemType(404, "unknown-model", "This service has no model of that name")
METHOD_NOT_ALLOWED = ProblemType(405, "method-not-allowed", "Method not allowed on this route")
NOT_ACCEPTABLE = ProblemType(406, "not-acceptable", "No representation matches the Accept header")
BODY_TIMEOUT = ProblemType(408, "body-timeout", "The request body did not arrive in time")
TOO_LARGE = ProblemType(413, "too-large", "The body or the media is over a size limit")
UNSUPPORTED_MEDIA_TYPE = ProblemType(415, "unsupported-media-type", "The tokenizer cannot take this type")
INVALID_TOKENS = ProblemType(422, "invalid-tokens", "The tokens cannot be decoded by this tokenizer")
INVALID_MEDIA = ProblemType(422, "invalid-media", "The media cannot be encoded by this tokenizer")
INVALID_PROMPT = ProblemType(422, "invalid-prompt", "The prompt does not fit this model")
ENCODE_ONLY = ProblemType(422, "encode-only", "This tokenizer only encodes (embeddings have no decoder)")
OVERLOADED = ProblemType(429, "overloaded", "The queue is full; retry later")
NOT_READY = ProblemType(503, "not-ready", "The service is not ready")
TIMEOUT = ProblemType(503, "timeout", "The request timed out in the service")
INTERNAL = ProblemType(500, "internal", "Internal error (a bug: please report it)")

#: Every problem type, for the OpenAPI description and the tests.
ALL_TYPES = (
    MALFORMED,
    BAD_PARAMETER,
    UNAUTHORIZED,
    NOT_FOUND,
    UNKNOWN_TOKENIZER,
    UNKNOWN_MODEL,
    METHOD_NOT_ALLOWED,
    NOT_ACCEPTABLE,
    BODY_TIMEOUT,
    TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    INVALID_TOKENS,
    INVALID_MEDIA,
    INVALID_PROMPT,
    ENCODE_ONLY,
    OVERLOADED,
    NOT_READY,
    TIMEOUT,
    INTERNAL,
)


class ProblemError(Exception):
    """Raised by service code to answer with a given problem type."""

    def __init__(
        self, problem: ProblemType, detail: str, headers: Mapping[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra


_BY_EXCEPTION: tuple[tuple[type[Exception], ProblemType], ...] = (
    (UnknownTokenizerError, UNKNOWN_TOKENIZER),
    (MediaTooLargeError, TOO_LARGE),  # before InvalidMediaError, its base
    (UnsupportedMediaTypeError, UNSUPPORTED_MEDIA_TYPE),
    (NotAcceptableError, NOT_ACCEPTABLE),
    (MalformedBodyError, MALFORMED),
    (EncodeOnlyError, ENCODE_ONLY),
    (InvalidTokensError, INVALID_TOKENS),
    (InvalidMediaError, INVALID_MEDIA),
    (BatcherClosedError, NOT_READY),
)


#: ``<_io.BytesIO object at 0x7f...>``, ``<function f at 0x...>``: reprs naming memory addresses.
_REPR = re.compile(r"<([^<>]*?)(?: object)? at 0x[0-9a-fA-F]+>")
#: An absolute POSIX path of two or more parts (``/srv/weights/x/model.safetensors``); not
#: media types (``image/png``), ratios or URLs, whose slashes follow a letter or a slash.
_PATH = re.compile(r"(?<![\w./~:-])/(?:[^\s/'\"<>:;,()\[\]{}]+/)+([^\s/'\"<>:;,()\[\]{}]*)")


def public(text: str) -> str:
    """``text`` without what it may say about the server: object reprs become ``<BytesIO>``
    and absolute paths keep their last part (``.../model.safetensors``). Applied to every
    problem's ``detail`` as a last line of defence; the full text goes to the log."""
    text = _REPR.sub(lambda m: f"<{m.group(1).rsplit('.', 1)[-1]}>", text)
    return _PATH.sub(lambda m: f".../{m.group(1)}", text)


def _public_values(value: Any) -> Any:
    if isinstance(value, str):
        return public(value)
    if isinstance(value, dict):
        return {key: _public_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_public_values(item) for item in value]
    return value


def as_problem(exc: Exception) -> ProblemError:
    """The problem a service exception stands for; unexpected ones become ``INTERNAL``."""
    if isinstance(exc, ProblemError):
        return exc
    if isinstance(exc, QueueFullError):
        return ProblemError(OVERLOADED, str(exc), {"Retry-After": str(exc.retry_after)})
    for kind, problem in _BY_EXCEPTION:
        if isinstance(exc, kind):
            return ProblemError(problem, str(exc))
    if isinstance(exc, TokenizersZooError):
        return ProblemError(INVALID_MEDIA, str(exc))
    log.error("internal error", exc_info=exc)
    return ProblemError(INTERNAL, f"{type(exc).__name__} (the server's log has the details)")


def problem_body(error: ProblemError, instance: str | None = None) -> dict[str, Any]:
    body = {
        "type": error.problem.uri,
        "title": error.problem.title,
        "status": error.problem.status,
        "detail": public(error.detail),
        **_public_values(error.extra),
    }
    if instance is not None:
        body["instance"] = instance
    return body


def problem_response(error: ProblemError, instance: str | None = None) -> Response:
    return Response(
        json.dumps(problem_body(error, instance)),
        status_code=error.problem.status,
        media_type=PROBLEM_JSON,
        headers=error.headers,
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry documenting these error statuses of a route in OpenAPI."""
    titles = {status: " / ".join(p.title for p in ALL_TYPES if p.status == status) for status in statuses}
    return {
        status: {
            "model": Problem,
            "description": titles[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


_HTTP_STATUS = {400: MALFORMED, 404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}


def install_problem_handlers(app: FastAPI) -> None:
    async def on_exception(request: Request, exc: Exception) -> Response:
        return problem_response(as_problem(exc), request.url.path)

    async def on_http(request: Request, exc: HTTPException) -> Response:
        problem = _HTTP_STATUS.get(exc.status_code, ProblemType(exc.status_code, "http-error", "HTTP error"))
        return problem_response(ProblemError(problem, str(exc.detail), exc.headers), request.url.path)

    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return problem_response(ProblemError(BAD_PARAMETER, where), request.url.path)

    # Expected errors are handled inside the middleware stack, so request metrics see their
    # status; the Exception handler (Starlette calls it outermost) is for bugs only.
    for kind in (ProblemError, TokenizersZooError, QueueFullError):
        app.add_exception_handler(kind, on_exception)
    app.add_exception_handler(Exception, on_exception)
    app.add_exception_handler(HTTPException, on_http)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
