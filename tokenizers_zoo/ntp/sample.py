"""Sampling from a trained ``Transformer``: greedy, temperature, top-k and top-p, with the
KV cache (one position of work per new token) or without it (the whole prefix again at
every step, which is what the cache is checked against)."""

from __future__ import annotations

import torch
from torch import Tensor

from tokenizers_zoo.ntp.model import Transformer


def pick(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Next ids ``(B,)`` from last-position logits ``(B, V)``; ``temperature=0`` is greedy."""
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        ordered, order = logits.sort(-1, descending=True)
        # Drop a token once the more likely ones before it already hold top_p of the mass.
        before = ordered.softmax(-1).cumsum(-1) - ordered.softmax(-1)
        ordered = ordered.masked_fill(before > top_p, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, ordered)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]


@torch.no_grad()
def generate(
    model: Transformer,
    prompt: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``prompt`` ``(B, T)`` followed by ``max_new_tokens`` sampled ids."""
    total = prompt.shape[1] + max_new_tokens
    if total > model.config.block_size:
        raise ValueError(
            f"prompt + new tokens = {total}, over the model's block_size {model.config.block_size}"
        )
    was_training = model.training
    model.eval()
    ids = prompt
    cache = model.new_cache(prompt.shape[0], total) if use_cache else None
    logits = model(prompt, cache)[:, -1]
    for step in range(max_new_tokens):
        next_ids = pick(logits, temperature, top_k, top_p, generator)
        ids = torch.cat([ids, next_ids[:, None]], dim=1)
        if step + 1 < max_new_tokens:
            logits = (model(next_ids[:, None], cache) if cache is not None else model(ids))[:, -1]
    model.train(was_training)
    return ids
