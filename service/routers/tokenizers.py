"""What this service serves: ``GET /v1/tokenizers`` and ``GET /v1/tokenizers/{name}``."""

from __future__ import annotations

from fastapi import APIRouter

from tokenizers_zoo.formats import returned_types
from tokenizers_zoo.media.files import readable_types
from tokenizers_zoo.service.dependencies import Served, State
from tokenizers_zoo.service.problems import problem_responses
from tokenizers_zoo.service.schemas import TokenizerDetail, TokenizerSummary

router = APIRouter(prefix="/v1/tokenizers", tags=["tokenizers"])


@router.get("", response_model=list[TokenizerSummary], responses=problem_responses(401))
async def list_tokenizers(state: State) -> list[TokenizerSummary]:
    """The tokenizers loaded and ready here (``/readyz`` lists those still loading)."""
    return [
        TokenizerSummary(
            name=name, modality=e.info.modality, kind=e.info.kind, description=e.info.description
        )
        for name, e in sorted(state.pool.engines.items())
    ]


@router.get("/{name}", response_model=TokenizerDetail, responses=problem_responses(401, 404, 503))
async def tokenizer_info(tokenizer: Served) -> TokenizerDetail:
    """The ``TokenizerInfo``, the encode options, and the media types in and out."""
    info = tokenizer.info
    return TokenizerDetail(
        **info.to_dict(),
        options=list(tokenizer.tokenizer.options),
        accepts=readable_types(info.modality),
        returns=returned_types(info.modality),
    )
