"""``GET /v1/models`` and ``POST /v1/models/{name}/generate``: the trained NTP models this
service serves (``tzoo serve --ntp-checkpoint DIR``), and what they make from a prompt.

The prompt is JSON (``schemas.GenerateRequest``); the answer is the media by ``Accept``: a
PNG (or JPEG, WebP) grid of the ``n`` images of an image model, the WAV of a speech model,
or JSON texts of a text model.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tokenizers_zoo.formats import JSON, NPY, returned_types
from tokenizers_zoo.ntp.generate import Prompt
from tokenizers_zoo.service.deadlines import within_deadline
from tokenizers_zoo.service.dependencies import Model, State
from tokenizers_zoo.service.negotiation import negotiate
from tokenizers_zoo.service.problems import MALFORMED, ProblemError, problem_responses
from tokenizers_zoo.service.schemas import GenerateRequest, GenerateTextResponse, ModelSummary

router = APIRouter(prefix="/v1/models", tags=["generate"])

GENERATE_PATH = "/v1/models/{name}/generate"
_BINARY = {"schema": {"type": "string", "format": "binary"}}


def answer_types(modality: str) -> list[str]:
    """What generate answers with for a model of ``modality`` (the first by default)."""
    return [JSON] if modality == "text" else [t for t in returned_types(modality) if t != NPY]


_ALL_TYPES = sorted({t for m in ("image", "audio") for t in answer_types(m)})


@router.get("", response_model=list[ModelSummary], responses=problem_responses(401))
async def list_models(state: State) -> list[ModelSummary]:
    """The NTP models loaded and ready here (``/readyz`` lists those still loading)."""
    return [
        ModelSummary(
            name=name,
            format=engine.generator.format,
            returns=answer_types(engine.modality),
            labels=engine.generator.labels,
            resolutions=[f"{h}x{w}" for h, w in engine.generator.vocab.resolutions],
            vocabulary=engine.generator.vocab.summary(),
        )
        for name, engine in sorted(state.models.engines.items())
    ]


@router.post(
    GENERATE_PATH.removeprefix(router.prefix),
    response_class=Response,
    responses={
        200: {
            "description": "a PNG grid of the images, a WAV, or the texts",
            "content": {
                **{t: _BINARY for t in _ALL_TYPES},
                JSON: {"schema": {"$ref": "#/components/schemas/GenerateTextResponse"}},
            },
        },
        **problem_responses(400, 401, 404, 406, 408, 413, 422, 429, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/GenerateRequest"}}},
        }
    },
)
async def generate(request: Request, model: Model, state: State) -> Response:
    """A prompt -> what the model makes of it. Checked before it queues: a field the model's
    format does not take, a class or grid it does not know, or more than its block holds is
    a 422 ``invalid-prompt``; more samples, pixels or seconds than the service's limits, a 413."""
    answer = negotiate(request.headers.get("accept"), answer_types(model.modality))
    try:
        body = GenerateRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise ProblemError(MALFORMED, f"expected a JSON prompt (GenerateRequest): {exc}") from exc
    grid = None if body.resolution is None else tuple(int(v) for v in body.resolution.split("x"))
    prompt = Prompt(
        label=body.label,
        caption=body.caption,
        text=body.text,
        n=body.n,
        cfg=body.cfg,
        temperature=body.temperature,
        top_k=body.top_k,
        top_p=body.top_p,
        seed=body.seed,
        resolution=grid,  # type: ignore[arg-type]
        max_new_tokens=body.max_new_tokens,
        seconds=body.seconds,
    )
    plan = await run_in_threadpool(model.plan, prompt)
    work = model.generate(plan, answer)
    made = await within_deadline(request, work, state.settings.request_timeout_s, state.metrics, model.name)
    if answer == JSON:
        text = GenerateTextResponse(model=model.name, texts=made).model_dump_json()
        return Response(text, media_type=JSON, headers={"Vary": "Accept"})
    return Response(made, media_type=answer, headers={"Vary": "Accept"})
