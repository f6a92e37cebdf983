"""What routes get injected: the service state, the API-key check, the served tokenizer or
NTP model.

All are ``async def``: FastAPI runs plain ``def`` dependencies on its thread pool, a
thread hop per dependency per request for work that takes microseconds."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tokenizers_zoo.service.engine import ServedTokenizer
from tokenizers_zoo.service.metrics import ServiceMetrics
from tokenizers_zoo.service.models import ModelPool, ServedModel
from tokenizers_zoo.service.pool import TokenizerPool
from tokenizers_zoo.service.problems import UNAUTHORIZED, ProblemError
from tokenizers_zoo.service.settings import ServiceSettings


@dataclass(frozen=True)
class ServiceState:
    settings: ServiceSettings
    metrics: ServiceMetrics
    pool: TokenizerPool
    models: ModelPool


async def get_state(request: Request) -> ServiceState:
    return request.app.state.service


State = Annotated[ServiceState, Depends(get_state)]

# Declared so /docs offers both ways to send a key; neither fails on its own (auto_error=False):
# require_api_key decides, and only when keys are configured.
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer KEY")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: KEY")


async def require_api_key(
    state: State,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key_header)],
) -> None:
    """401 unless a configured key is sent. Every key is compared in constant time, and all
    of them always, so the answer's timing says nothing about any key."""
    keys = state.settings.api_keys
    if not keys:
        return
    given = (bearer.credentials if bearer else header_key or "").encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode())
    if not matched:
        detail = "a wrong API key was sent" if given else "send an API key (Authorization: Bearer KEY)"
        raise ProblemError(UNAUTHORIZED, detail, {"WWW-Authenticate": "Bearer"})


async def get_tokenizer(
    state: State, name: Annotated[str, Path(description="a served tokenizer")]
) -> ServedTokenizer:
    return state.pool.get(name)


Served = Annotated[ServedTokenizer, Depends(get_tokenizer)]


async def get_model(
    state: State, name: Annotated[str, Path(description="a served NTP model")]
) -> ServedModel:
    return state.models.get(name)


Model = Annotated[ServedModel, Depends(get_model)]
