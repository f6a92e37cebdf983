"""Liveness, readiness and metrics: the routes orchestrators and Prometheus poll."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from tokenizers_zoo.service.dependencies import State, require_api_key
from tokenizers_zoo.service.pool import FAILED, LOADING
from tokenizers_zoo.service.problems import NOT_READY, ProblemError, problem_responses
from tokenizers_zoo.service.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up and answering (it may still be loading weights)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses=problem_responses(503))
async def readyz(state: State) -> Readiness:
    """200 once every served tokenizer and NTP model is loaded; 503 while loading (with ``Retry-After``),
    after a failed load (``errors`` says which and why; no ``Retry-After``: it does not
    clear) and while shutting down."""
    pool, models = state.pool, state.models
    states, errors = {**pool.states, **models.states}, {**pool.errors, **models.errors}
    if not (pool.ready and models.ready):
        failed = {name: why for name, why in errors.items() if states[name] == FAILED}
        closing = pool.closing or models.closing
        if closing:
            why = "shutting down"
        elif failed:
            why = "failed to load: " + "; ".join(f"{name}: {reason}" for name, reason in failed.items())
        elif LOADING in states.values():
            why = "loading: " + ", ".join(name for name, s in states.items() if s == LOADING)
        else:
            why = "no tokenizer could be loaded (every one was skipped)"
        waiting = LOADING in states.values() and not failed and not closing  # waiting can clear it
        raise ProblemError(
            NOT_READY,
            why,
            {"Retry-After": "1"} if waiting else {},
            tokenizers=dict(pool.states),
            models=dict(models.states),
            errors=errors,
        )
    return Readiness(status="ready", tokenizers=dict(pool.states), models=dict(models.states), errors=errors)


@router.get(
    "/metrics",
    dependencies=[Depends(require_api_key)],
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
        **problem_responses(401),
    },
)
async def metrics(state: State) -> Response:
    """Prometheus text format: requests by route and status, queue depth, batch sizes and
    encode/decode latency histograms."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
