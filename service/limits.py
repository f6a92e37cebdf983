"""The request body limit, enforced while the body streams in.

A declared ``Content-Length`` over the limit is refused before a byte is read; a
chunked body is counted as it arrives and refused the moment it passes the limit, so
no request can make the service buffer more than ``max_body_bytes``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenizers_zoo.errors import MediaTooLargeError
from tokenizers_zoo.service.problems import TOO_LARGE, ProblemError, problem_response


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
