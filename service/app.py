"""The FastAPI application: routes, middleware, error handlers and the lifespan that loads
and drains the tokenizers.

``create_app(settings)`` builds one; ``app_from_env`` is the factory uvicorn workers call
(settings from ``TZOO_*`` variables).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from tokenizers_zoo.service.deadlines import ClientDisconnectedError
from tokenizers_zoo.service.dependencies import ServiceState, require_api_key
from tokenizers_zoo.service.limits import BodySizeLimitMiddleware, BodyTimeoutMiddleware
from tokenizers_zoo.service.metrics import RequestMetricsMiddleware, ServiceMetrics
from tokenizers_zoo.service.models import ModelPool
from tokenizers_zoo.service.openapi import install_openapi
from tokenizers_zoo.service.pool import Loader, TokenizerPool
from tokenizers_zoo.service.problems import install_problem_handlers
from tokenizers_zoo.service.routers import decode, encode, generate, health, tokenizers
from tokenizers_zoo.service.settings import ServiceSettings

DESCRIPTION = """Media <-> tokens over HTTP for next-token-prediction models.

Encode: POST the media (image/png, audio/wav, ...) to `/v1/tokenizers/{name}/encode`;
get JSON (`Accept: application/json`) or `.npy` (`Accept: application/x-npy`, metadata in
`X-Tzoo-*` headers). Decode: POST what encode returned to `/v1/tokenizers/{name}/decode`.
Requests are batched dynamically per tokenizer. Generate: POST a prompt (JSON) to
`/v1/models/{name}/generate` of a trained NTP model (`tzoo serve --ntp-checkpoint DIR`);
get a PNG grid, a WAV or JSON texts. Errors are `application/problem+json`.
"""

log = logging.getLogger("tokenizers_zoo.service")

#: nginx's status for "client closed request": never seen by a client, kept out of the 5xx count.
CLIENT_CLOSED_REQUEST = 499


def create_app(settings: ServiceSettings | None = None, loader: Loader | None = None) -> FastAPI:
    """The service; ``loader(name, device, weights)`` replaces ``tz.load`` when given."""
    settings = settings or ServiceSettings.from_env()
    metrics = ServiceMetrics()
    pool = TokenizerPool(settings, metrics, loader)
    models = ModelPool(settings, metrics, pool.budget)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool.start()
        models.start()
        yield
        await models.close()  # uvicorn has let in-flight requests finish by now
        await pool.close()

    from tokenizers_zoo import __version__

    app = FastAPI(title="tokenizers-zoo", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.service = ServiceState(settings, metrics, pool, models)
    install_problem_handlers(app)
    install_openapi(app, settings)

    async def on_disconnect(request: Request, exc: Exception) -> Response:
        """Nobody is left to answer: counted as 499; a client that aborts its upload (Starlette's
        ``ClientDisconnect``) is the client's doing, so one INFO line and no traceback."""
        if isinstance(exc, ClientDisconnect):
            log.info(
                "%s %s: the client closed the connection before sending the whole body",
                request.method,
                request.url.path,
            )
        return Response(status_code=CLIENT_CLOSED_REQUEST)

    for gone in (ClientDisconnectedError, ClientDisconnect):
        app.add_exception_handler(gone, on_disconnect)
    app.include_router(health.router)
    protected = [Depends(require_api_key)]
    for router in (tokenizers.router, encode.router, decode.router, generate.router):
        app.include_router(router, dependencies=protected)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=settings.body_timeout)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)  # outermost: sees every answer
    return app


def app_from_env() -> FastAPI:
    return create_app(ServiceSettings.from_env())
