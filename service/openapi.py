"""``/openapi.json``, exact for this service and its settings.

FastAPI derives most of the document from the routes. This adds what it cannot see, and
takes out what does not happen, so generated clients and fuzzers build requests the
service takes and expect the answers it gives:

- the schemas that raw-body routes reference by hand (``BatchEncodeRequest``,
  ``GenerateRequest``, ``GenerateTextResponse``);
- this service's limit on items per batch (``maxItems``, for JSON and multipart alike) and
  on samples per generate request (``n``'s ``maximum``), and on seconds of audio;
- security only when API keys are configured (and then the 401 answers), none otherwise;
- no FastAPI ``422 HTTPValidationError`` answers: a query parameter that fails validation
  is a 400 ``bad-parameter`` problem here.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from tokenizers_zoo.service.routers.encode import BATCH_PATH, MULTIPART
from tokenizers_zoo.service.schemas import BatchEncodeRequest, GenerateRequest, GenerateTextResponse
from tokenizers_zoo.service.settings import ServiceSettings

REF = "#/components/schemas/"
#: Models that routes reference only from ``openapi_extra`` (raw bodies FastAPI never parses).
REFERENCED_MODELS: tuple[type[BaseModel], ...] = (BatchEncodeRequest, GenerateRequest, GenerateTextResponse)
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def openapi_document(app: FastAPI, settings: ServiceSettings) -> dict[str, Any]:
    # A copy: FastAPI puts the routes' own openapi_extra dicts into the document, which
    # this edits for one app's settings.
    document = copy.deepcopy(
        get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in REFERENCED_MODELS:
        schema = model.model_json_schema(ref_template=REF + "{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    for path_item in document["paths"].values():
        for operation in path_item.values():
            responses = operation["responses"]
            if REF + "HTTPValidationError" in str(responses.get("422", "")):
                del responses["422"]
            if not settings.api_keys:
                operation.pop("security", None)
                responses.pop("401", None)
    if not settings.api_keys:
        components.pop("securitySchemes", None)
    _batch_limit(document, settings.max_batch_items)
    generate = schemas[GenerateRequest.__name__]["properties"]
    generate["n"]["maximum"] = settings.max_batch_items
    generate["seconds"]["maximum"] = settings.max_audio_seconds
    return document


def _batch_limit(document: dict[str, Any], max_items: int) -> None:
    schemas = document["components"]["schemas"]
    schemas[BatchEncodeRequest.__name__]["properties"]["items"]["maxItems"] = max_items
    content = document["paths"][BATCH_PATH]["post"]["requestBody"]["content"]
    content[MULTIPART]["schema"]["properties"]["file"]["maxItems"] = max_items


def install_openapi(app: FastAPI, settings: ServiceSettings) -> None:
    """Serve ``openapi_document`` (built once, on the first request for it)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
