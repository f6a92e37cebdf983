"""The request body limits, enforced while the body streams in: its size and its time.

A declared ``Content-Length`` over the size limit is refused before a byte is read; a
chunked body is counted as it arrives and refused the moment it passes the limit, so
no request can make the service buffer more than ``max_body_bytes``. A body that has not
fully arrived ``body_timeout`` seconds after the request's headers is answered 408 and
its connection closed, so clients that stall or trickle cannot hold connections for ever.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenizers_zoo.errors import MediaTooLargeError
from tokenizers_zoo.service.problems import BODY_TIMEOUT, TOO_LARGE, ProblemError, problem_response


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            error = ProblemError(TOO_LARGE, self._message())
            await problem_response(error, scope["path"])(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise MediaTooLargeError(self._message())
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return f"the request body is over the limit of {self.max_body_bytes} bytes"


class BodyTimeoutMiddleware:
    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.timeout_s:
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        complete = False

        async def timed_receive() -> Message:
            nonlocal complete
            if complete:  # later receives wait for a disconnect, however long the work takes
                return await receive()
            try:
                if loop.time() >= deadline:
                    raise TimeoutError
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise ProblemError(
                    BODY_TIMEOUT,
                    f"the request body did not arrive within {self.timeout_s:g} s of its headers",
                    {"Connection": "close"},
                ) from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed_receive, send)
