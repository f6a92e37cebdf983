"""What a tokenizer's output costs a next-token model: tokens per item, bits, and how
evenly each codebook is used.

Bits count each id at ``log2(codebook size)`` (a fixed-length code, what a model's
vocabulary pays; an entropy coder would need fewer), so bits per pixel or kbps follow
from the token grid and the codebook sizes alone. Usage is the fraction of a codebook's
ids seen at least once over the run; perplexity is ``exp`` of the entropy of the ids'
empirical distribution (the number of equally likely codes that would carry as much).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.tokens import Tokens


def codebook_columns(ids: Tensor, info: TokenizerInfo) -> list[Tensor]:
    """One tensor of ids per codebook used: audio ids are ``(B, n, frames)``; images and
    video carry several codebooks on the last axis. A multi-rate codec at a lower bandwidth
    uses only its first ``n`` codebooks."""
    if info.modality == "audio":
        return list(ids.unbind(1))
    if info.num_codebooks > 1:
        return list(ids.unbind(-1))
    return [ids]


def item_cost(tokens: Tokens, info: TokenizerInfo) -> dict[str, float | None]:
    """Tokens and bits of one item (``tokens`` holds a batch of one). Continuous tokens
    count latent vectors and have no bit cost."""
    if tokens.ids is None:
        return {"tokens": tokens.latents[0].numel() / info.latent_dim, "bits": None}
    columns = codebook_columns(tokens.ids[:1], info)
    bits = sum(column.numel() * math.log2(info.vocab_size[k]) for k, column in enumerate(columns))
    return {"tokens": float(tokens.ids[0].numel()), "bits": bits}


class CodebookCounter:
    """How often each id of each codebook occurs over a run."""

    def __init__(self, info: TokenizerInfo) -> None:
        self.info = info
        self.counts: list[Tensor] = []

    def update(self, ids: Tensor) -> None:
        for k, column in enumerate(codebook_columns(ids.cpu(), self.info)):
            counts = torch.bincount(column.flatten(), minlength=self.info.vocab_size[k])
            if k < len(self.counts):
                self.counts[k] += counts
            else:
                self.counts.append(counts)

    def summary(self) -> list[dict[str, Any]]:
        """Per codebook used: size, ids seen, usage and perplexity."""
        rows = []
        for k, counts in enumerate(self.counts):
            total = int(counts.sum())
            p = counts[counts > 0].double() / max(total, 1)
            rows.append(
                {
                    "codebook": k,
                    "size": self.info.vocab_size[k],
                    "tokens": total,
                    "usage": int((counts > 0).sum()) / self.info.vocab_size[k],
                    "perplexity": float(torch.exp(-(p * p.log()).sum())),
                }
            )
        return rows
