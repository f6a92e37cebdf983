"""Python client of the tokenization service: ``Client`` and ``AsyncClient``.

It imports no torch (numpy and httpx; Pillow only to send or return PIL images), so
data pipelines can use it without the model stack. Tokens travel as ``.npy`` by
default (``transport="json"`` for JSON); 429 and 503 answers are retried with
exponential backoff (honouring ``Retry-After``); every other error raises a
``ServiceError`` subclass carrying the problem details.

    from tokenizers_zoo.service.client import Client
    with Client("http://127.0.0.1:8000") as client:
        tokens = client.encode("image-fsq-f8-4k", "cat.png")  # EncodedTokens, numpy data
        png = client.decode("image-fsq-f8-4k", tokens)        # bytes
        grid = client.generate("photos-class-cond", label=0, n=4, cfg=2.0)  # PNG bytes
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import httpx
import numpy as np

from tokenizers_zoo import errors
from tokenizers_zoo.formats import JSON, NPY, guess_media_type, sniff_media_type
from tokenizers_zoo.wire import EncodedTokens, kind_of, read_npy, write_npy

T = TypeVar("T")
Output = Literal["bytes", "pil", "numpy"]
Transport = Literal["npy", "json"]

DEFAULT_URL = "http://127.0.0.1:8000"
RETRY_STATUSES = frozenset({429, 503})


class ServiceError(errors.TokenizersZooError):
    """An error answer; ``problem`` is its RFC 9457 body (``type``, ``title``, ``detail``)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.type = str(problem.get("type", "about:blank"))
        self.title = str(problem.get("title", ""))
        self.detail = str(problem.get("detail", ""))
        super().__init__(f"{status} {self.title}: {self.detail}" if self.detail else f"{status} {self.title}")


class BadRequestError(ServiceError):
    """400: the body or a parameter cannot be parsed."""


class AuthenticationError(ServiceError):
    """401: missing or wrong API key."""


class NotFoundError(ServiceError):
    """404: no such tokenizer (or route) on this service."""


class ServiceUnreachableError(errors.TokenizersZooError, ConnectionError):
    """Nothing answered: the connection was refused, the name did not resolve, the URL is
    not one a client can call, or no answer came within the timeout."""


class NotAcceptableError(ServiceError, errors.NotAcceptableError):
    """406: the service cannot answer in the asked-for media type."""


class PayloadTooLargeError(ServiceError):
    """413: the body or the media is over a limit of the service."""


class UnsupportedMediaTypeError(ServiceError, errors.UnsupportedMediaTypeError):
    """415: the tokenizer does not take this media type."""


class UnprocessableError(ServiceError):
    """422: invalid tokens (range, shape, dtype, NaN) or media the tokenizer refuses."""


class OverloadedError(ServiceError):
    """429: the queue was still full after every retry."""


class NotReadyError(ServiceError):
    """503: not ready, shutting down, or timed out, after every retry."""


_ERRORS: dict[int, type[ServiceError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    406: NotAcceptableError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableError,
    429: OverloadedError,
    503: NotReadyError,
}


def _error(response: httpx.Response) -> ServiceError:
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = {"title": response.reason_phrase, "detail": response.text[:500]}
    return _ERRORS.get(response.status_code, ServiceError)(response.status_code, problem)


@dataclass
class _Call(Generic[T]):
    """One request, transport-neutral, and how to read its answer: what both clients share."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] = field(default_factory=dict)
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def sniffed_type(body: bytes) -> str:
    return sniff_media_type(body) or "application/octet-stream"


def _media_body(media: Any, content_type: str | None) -> tuple[bytes, str]:
    """Path, bytes, PIL image or numpy array -> ``(body, Content-Type)``."""
    if isinstance(media, str | Path):
        path = Path(media)
        body = path.read_bytes()
        return body, content_type or guess_media_type(path) or sniffed_type(body)
    if isinstance(media, bytes | bytearray | memoryview):
        body = bytes(media)
        return body, content_type or sniffed_type(body)
    if isinstance(media, np.ndarray):
        return write_npy(media), NPY
    if hasattr(media, "save") and hasattr(media, "mode"):  # a PIL image, without importing PIL
        buffer = io.BytesIO()
        media.save(buffer, format="PNG")
        return buffer.getvalue(), "image/png"
    raise TypeError(f"cannot send a {type(media).__name__}: give a path, bytes, a PIL image or an array")


def _parse_tokens(response: httpx.Response) -> EncodedTokens:
    if response.headers.get("content-type", "").startswith(NPY):
        return EncodedTokens.from_npy(response.content, response.headers)
    return EncodedTokens.from_json(response.json())


def _parse_media(output: Output) -> Callable[[httpx.Response], Any]:
    def parse(response: httpx.Response) -> Any:
        if output == "numpy":
            return read_npy(response.content)
        if output == "pil":
            from PIL import Image

            return Image.open(io.BytesIO(response.content))
        return response.content

    return parse


def _encode_call(
    name: str,
    media: Any,
    transport: Transport,
    sample_rate: int | None,
    content_type: str | None,
    options: dict[str, Any],
) -> _Call[EncodedTokens]:
    body, kind = _media_body(media, content_type)
    params = {k: v for k, v in {"sample_rate": sample_rate, **options}.items() if v is not None}
    accept = NPY if transport == "npy" else JSON
    return _Call(
        "POST",
        f"/v1/tokenizers/{name}/encode",
        _parse_tokens,
        params=params,
        content=body,
        headers={"Content-Type": kind, "Accept": accept},
    )


def _decode_call(
    name: str,
    tokens: EncodedTokens | np.ndarray,
    transport: Transport,
    output: Output,
    media_type: str | None,
) -> _Call[Any]:
    if isinstance(tokens, np.ndarray):
        tokens = EncodedTokens(name, kind_of(tokens), tokens, original_size=())
    accept = NPY if output == "numpy" else media_type or "*/*"
    if transport == "npy":
        headers = {**tokens.headers(), "Content-Type": NPY}
        if not tokens.original_size:
            del headers["X-Tzoo-Original-Size"]
        body = tokens.to_npy()
    else:
        headers = {"Content-Type": JSON}
        body = json.dumps(tokens.to_json()).encode()
    return _Call(
        "POST",
        f"/v1/tokenizers/{name}/decode",
        _parse_media(output),
        content=body,
        headers={**headers, "Accept": accept},
    )


def _json(response: httpx.Response) -> Any:
    return response.json()


def _generated(response: httpx.Response) -> bytes | list[str]:
    """A text model's texts, or the media file's bytes."""
    if response.headers.get("content-type", "").startswith(JSON):
        return list(response.json()["texts"])
    return response.content


def _generate_call(
    name: str, label: int | str | None, media_type: str | None, fields: dict[str, Any]
) -> _Call[bytes | list[str]]:
    prompt = {"class": label, **fields}
    body = json.dumps({key: value for key, value in prompt.items() if value is not None}).encode()
    headers = {"Content-Type": JSON, "Accept": media_type or "*/*"}
    return _Call("POST", f"/v1/models/{name}/generate", _generated, content=body, headers=headers)


def unreachable(url: str, exc: httpx.HTTPError, timeout: float) -> ServiceUnreachableError:
    """One sentence for a request that got no answer, saying what to check."""
    if isinstance(exc, httpx.TimeoutException):
        return ServiceUnreachableError(f"no answer from {url} within {timeout:g} s (timeout)")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ServiceUnreachableError(f"{url} is not a URL a client can call (try http://HOST:PORT)")
    reason = str(exc.__context__ or exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError) and "refused" in reason.lower():
        reason = "connection refused; is tzoo serve running?"
    return ServiceUnreachableError(f"cannot reach {url}: {reason}")


class _ClientBase:
    def __init__(
        self,
        url: str = DEFAULT_URL,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.25,
        transport: Transport = "npy",
    ) -> None:
        if transport not in ("npy", "json"):
            raise ValueError(f"transport must be 'npy' or 'json', got {transport!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.transport: Transport = transport
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Exponential backoff with jitter; a ``Retry-After`` in seconds wins when larger."""
        delay = self.backoff * 2**attempt * (0.5 + random.random())
        retry_after = response.headers.get("retry-after", "") if response is not None else ""
        return max(delay, float(retry_after)) if retry_after.isdigit() else delay

    def _should_retry(self, attempt: int, response: httpx.Response | None) -> bool:
        return attempt < self.retries and (response is None or response.status_code in RETRY_STATUSES)

    @staticmethod
    def _result(call: _Call[T], response: httpx.Response) -> T:
        if response.status_code >= 400:
            raise _error(response)
        return call.parse(response)

    @staticmethod
    def _list_call() -> _Call[list[dict[str, Any]]]:
        return _Call("GET", "/v1/tokenizers", _json)

    @staticmethod
    def _info_call(name: str) -> _Call[dict[str, Any]]:
        return _Call("GET", f"/v1/tokenizers/{name}", _json)

    @staticmethod
    def _models_call() -> _Call[list[dict[str, Any]]]:
        return _Call("GET", "/v1/models", _json)


class Client(_ClientBase):
    """Blocking client; a context manager (or call ``close()``)."""

    def __init__(self, url: str = DEFAULT_URL, api_key: str | None = None, timeout: float = 60.0, **kw: Any):
        super().__init__(url, api_key, timeout, **kw)
        self._http = httpx.Client(base_url=self.url, headers=self._headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: _Call[T]) -> T:
        for attempt in range(self.retries + 1):
            try:
                response: httpx.Response | None = self._http.request(
                    call.method, call.path, params=call.params, content=call.content, headers=call.headers
                )
            except httpx.ConnectError as exc:
                response = None  # nothing was sent: safe to retry
                if not self._should_retry(attempt, None):
                    raise unreachable(self.url, exc, self.timeout) from None
            except httpx.HTTPError as exc:
                raise unreachable(self.url, exc, self.timeout) from None
            if response is not None and not self._should_retry(attempt, response):
                return self._result(call, response)
            time.sleep(self._delay(attempt, response))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def ready(self) -> bool:
        """Whether ``/readyz`` says 200 (no retries)."""
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.HTTPError as exc:
            raise unreachable(self.url, exc, self.timeout) from None

    def list(self) -> list[dict[str, Any]]:
        return self._send(self._list_call())

    def info(self, name: str) -> dict[str, Any]:
        return self._send(self._info_call(name))

    def encode(
        self,
        name: str,
        media: Any,
        *,
        sample_rate: int | None = None,
        content_type: str | None = None,
        **options: Any,
    ) -> EncodedTokens:
        """``media``: a path, file bytes, a PIL image, or an array (uint8 pixels, or audio
        samples with ``sample_rate``). Extra keywords are the tokenizer's encode options."""
        return self._send(_encode_call(name, media, self.transport, sample_rate, content_type, options))

    def decode(
        self,
        name: str,
        tokens: EncodedTokens | np.ndarray,
        *,
        output: Output = "bytes",
        media_type: str | None = None,
    ) -> Any:
        """File bytes (PNG / WAV unless ``media_type`` says otherwise), a PIL image
        (``output="pil"``) or an array (``output="numpy"``: uint8 ``(H, W, 3)`` or float ``(C, T)``)."""
        return self._send(_decode_call(name, tokens, self.transport, output, media_type))

    def models(self) -> list[dict[str, Any]]:
        """The NTP models the service generates with (``tzoo serve --ntp-checkpoint``)."""
        return self._send(self._models_call())

    def generate(
        self, name: str, *, label: int | str | None = None, media_type: str | None = None, **prompt: Any
    ) -> bytes | list[str]:
        """What model ``name`` makes of a prompt: the PNG grid of its images or its WAV (bytes,
        ``media_type`` for another image type), or a text model's texts. ``label`` is the
        class (an id or a name); the other keywords are the prompt's fields: ``caption``,
        ``text``, ``n``, ``cfg``, ``temperature``, ``top_k``, ``top_p``, ``seed``,
        ``resolution`` ("16x16"), ``max_new_tokens``, ``seconds``."""
        return self._send(_generate_call(name, label, media_type, prompt))

    def encode_many(
        self, name: str, items: Iterable[Any], concurrency: int = 4, **kw: Any
    ) -> list[EncodedTokens]:
        """``encode`` over ``items`` with at most ``concurrency`` requests in flight, in order;
        the service batches them together."""
        with ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(lambda item: self.encode(name, item, **kw), items))

    def decode_many(self, name: str, items: Sequence[Any], concurrency: int = 4, **kw: Any) -> list[Any]:
        with ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(lambda tokens: self.decode(name, tokens, **kw), items))


class AsyncClient(_ClientBase):
    """The same API for asyncio: ``async with AsyncClient(url) as client: await client.encode(...)``."""

    def __init__(self, url: str = DEFAULT_URL, api_key: str | None = None, timeout: float = 60.0, **kw: Any):
        super().__init__(url, api_key, timeout, **kw)
        self._http = httpx.AsyncClient(base_url=self.url, headers=self._headers, timeout=timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _send(self, call: _Call[T]) -> T:
        for attempt in range(self.retries + 1):
            try:
                response: httpx.Response | None = await self._http.request(
                    call.method, call.path, params=call.params, content=call.content, headers=call.headers
                )
            except httpx.ConnectError as exc:
                response = None
                if not self._should_retry(attempt, None):
                    raise unreachable(self.url, exc, self.timeout) from None
            except httpx.HTTPError as exc:
                raise unreachable(self.url, exc, self.timeout) from None
            if response is not None and not self._should_retry(attempt, response):
                return self._result(call, response)
            await asyncio.sleep(self._delay(attempt, response))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def ready(self) -> bool:
        try:
            return (await self._http.get("/readyz")).status_code == 200
        except httpx.HTTPError as exc:
            raise unreachable(self.url, exc, self.timeout) from None

    async def list(self) -> list[dict[str, Any]]:
        return await self._send(self._list_call())

    async def info(self, name: str) -> dict[str, Any]:
        return await self._send(self._info_call(name))

    async def encode(
        self,
        name: str,
        media: Any,
        *,
        sample_rate: int | None = None,
        content_type: str | None = None,
        **options: Any,
    ) -> EncodedTokens:
        return await self._send(_encode_call(name, media, self.transport, sample_rate, content_type, options))

    async def decode(
        self,
        name: str,
        tokens: EncodedTokens | np.ndarray,
        *,
        output: Output = "bytes",
        media_type: str | None = None,
    ) -> Any:
        return await self._send(_decode_call(name, tokens, self.transport, output, media_type))

    async def models(self) -> list[dict[str, Any]]:
        return await self._send(self._models_call())

    async def generate(
        self, name: str, *, label: int | str | None = None, media_type: str | None = None, **prompt: Any
    ) -> bytes | list[str]:
        return await self._send(_generate_call(name, label, media_type, prompt))

    async def encode_many(
        self, name: str, items: Iterable[Any], concurrency: int = 8, **kw: Any
    ) -> list[EncodedTokens]:
        return await self._bounded([self.encode(name, item, **kw) for item in items], concurrency)

    async def decode_many(
        self, name: str, items: Iterable[Any], concurrency: int = 8, **kw: Any
    ) -> list[Any]:
        return await self._bounded([self.decode(name, tokens, **kw) for tokens in items], concurrency)

    @staticmethod
    async def _bounded(work: list[Any], concurrency: int) -> list[Any]:
        gate = asyncio.Semaphore(concurrency)

        async def one(coro: Any) -> Any:
            async with gate:
                return await coro

        return await asyncio.gather(*(one(c) for c in work))


__all__ = [
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "EncodedTokens",
    "NotAcceptableError",
    "NotFoundError",
    "NotReadyError",
    "OverloadedError",
    "PayloadTooLargeError",
    "ServiceError",
    "ServiceUnreachableError",
    "UnprocessableError",
    "UnsupportedMediaTypeError",
]
