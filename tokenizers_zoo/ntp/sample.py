"""Sampling from a trained ``Transformer``: greedy, temperature, top-k and top-p, with the
KV cache (one position of work per new token) or without it (the whole prefix again at
every step, which is what the cache is checked against); constrained to a format's ids
(``constraints.py``) and with classifier-free guidance (the conditional and unconditional
streams batched through one cache)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.ntp import sequence
from tokenizers_zoo.ntp.constraints import FormatRule, ImageGrid, allowed_mask
from tokenizers_zoo.ntp.heads import guide
from tokenizers_zoo.ntp.model import Transformer
from tokenizers_zoo.ntp.positions import positions_for
from tokenizers_zoo.ntp.vocabulary import Vocabulary


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


class Sampled(NamedTuple):
    """Sampled sequences ``(B, T)`` and, for a model with continuous tokens, the vector at
    each of their latent placeholders ``(B, T, dim)`` (zero elsewhere; else ``None``)."""

    ids: Tensor
    latents: Tensor | None


def generate(model: Transformer, prompt: Tensor, max_new_tokens: int, *args: Any, **kwargs: Any) -> Tensor:
    """``prompt`` ``(B, T)`` followed by up to ``max_new_tokens`` sampled ids: the ids of
    ``sample_sequences``, which has the other arguments (temperature, top_k, top_p, ...)."""
    return sample_sequences(model, prompt, max_new_tokens, *args, **kwargs).ids


@torch.no_grad()
def sample_sequences(
    model: Transformer,
    prompt: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
    *,
    padding: Tensor | None = None,
    rules: list[FormatRule] | None = None,
    unconditional: Tensor | None = None,
    cfg_scale: float = 1.0,
    vocab: Vocabulary | None = None,
) -> Sampled:
    """``prompt`` ``(B, T)`` followed by up to ``max_new_tokens`` sampled ids.

    ``rules`` (one ``FormatRule`` per row, fed the prompt already) mask the logits to the
    ids each row may hold next; generation ends early once every row's sequence is done.
    ``unconditional`` (``(B, T)``) runs beside the prompt in one batch, sharing the KV cache,
    and each step picks from the guided logits ``u + cfg_scale * (c - u)``; both streams
    then take the same id. ``padding`` marks the pad ids of left-padded prompts
    (``pad_left``), for every stream: ``(B, T)``, or ``(2B, T)`` with ``unconditional``.
    A ``rope="2d"`` model reads its positions off the ids through ``vocab`` (default: the
    rules'). A model with continuous tokens needs ``rules``: where they allow only a latent
    placeholder, the continuous head draws the vector (guided like the logits)."""
    total = prompt.shape[1] + max_new_tokens
    if total - 1 > model.config.block_size:  # the last new id is never fed back
        raise ValueError(
            f"prompt + new tokens = {total}, over the model's block_size {model.config.block_size} + 1"
        )
    batch = prompt.shape[0]
    device = model.embed.weight.device
    streams = prompt if unconditional is None else torch.cat([prompt, unconditional])
    streams = streams.to(device)
    if padding is not None:
        padding = padding.to(device)
        if padding.shape != streams.shape:
            raise ValueError(f"padding is {tuple(padding.shape)}; the streams are {tuple(streams.shape)}")
        padding = torch.cat([padding, padding.new_zeros(len(streams), max_new_tokens)], 1)
    vocab = vocab or (rules[0].vocab if rules else None)
    if model.config.rope == "2d" and vocab is None:
        raise ValueError("a rope='2d' model reads positions off the ids: give vocab (or rules)")
    latent = model.config.latent
    if latent is not None and rules is None:
        raise ValueError("a model with continuous tokens samples with rules (they say where a vector goes)")
    placeholders = torch.tensor(vocab.latent_tokens() if latent else (), dtype=torch.long, device=device)
    latents = None if latent is None else torch.zeros(len(streams), total, latent.dim, device=device)
    was_training = model.training
    model.eval()
    ids = streams
    cache = model.new_cache(len(streams), total) if use_cache else None

    def states_at(position: int) -> Tensor:
        """The last position's states of every stream."""
        seen = None if padding is None else padding[:, :position]
        start = 0 if cache is None else cache.position
        positions = positions_for(model.config.rope, vocab, ids[:, :position]) if vocab is not None else None
        new = None if positions is None else positions[:, start:]
        given = None if latents is None else latents[:, start:position]
        return model.hidden(ids[:, start:position], cache, seen, positions=new, latents=given)[:, -1]

    def logits_of(states: Tensor) -> Tensor:
        """Next-id logits of every row (guided when there is an unconditional stream)."""
        out = model.head(states)
        if unconditional is not None:
            out = guide(out[:batch].float(), out[batch:].float(), cfg_scale)
        if rules is not None:
            out = out.masked_fill(~allowed_mask(rules, out.shape[-1], out.device), float("-inf"))
        return out

    copies = len(streams) // batch
    for _ in range(max_new_tokens):
        position = ids.shape[1]
        states = states_at(position)
        next_ids = pick(logits_of(states), temperature, top_k, top_p, generator)
        if latents is not None:
            vector = torch.isin(next_ids, placeholders)
            if vector.any():
                uncond = states[batch:][vector] if unconditional is not None else None
                drawn = model.sample_latents(
                    states[:batch][vector], uncond, cfg_scale, temperature, generator
                )
                latents[vector.repeat(copies), position] = drawn.float().repeat(copies, 1)
        if rules is not None:
            for rule, token in zip(rules, next_ids.tolist(), strict=True):
                rule.advance(token)
        ids = torch.cat([ids, next_ids.repeat(copies)[:, None]], dim=1)
        if rules is not None and all(rule.done for rule in rules):
            break
    model.train(was_training)
    return Sampled(ids[:batch], None if latents is None else latents[:batch, : ids.shape[1]])


def pad_left(prompts: list[Tensor], pad: int) -> tuple[Tensor, Tensor]:
    """Prompts of different lengths as one ``(B, T)`` batch padded on the left with ``pad``,
    and the padding mask ``generate`` takes."""
    length = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), length), pad, dtype=torch.long)
    padding = torch.ones(len(prompts), length, dtype=torch.bool)
    for row, p in enumerate(prompts):
        ids[row, length - len(p) :] = p
        padding[row, length - len(p) :] = False
    return ids, padding


def sample_images(
    model: Transformer,
    vocab: Vocabulary,
    format: str,
    prompts: list[np.ndarray],
    unconditional: list[np.ndarray] | None = None,
    cfg_scale: float = 1.0,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> list[np.ndarray]:
    """Whole sequences of ``format`` continuing ``prompts`` (``sequence.image_prompt``: each
    ends with an image's resolution token), constrained so each holds one decodable image;
    with ``unconditional`` prompts (one per prompt), guided by ``cfg_scale``. For a
    continuous image medium, each image's ``(h, w, dim)`` latents instead of its sequence
    (``decode.decode_images`` takes either)."""
    rules = [FormatRule(vocab, format).feed(p) for p in prompts]
    grids = {rule.span.grid for rule in rules if isinstance(rule.span, ImageGrid)}
    if len(grids) != 1 or len(rules) != len(prompts) or any(not isinstance(r.span, ImageGrid) for r in rules):
        raise InvalidTokensError("image prompts end with a resolution token, the same one in every prompt")
    (h, w), books = grids.pop(), vocab.codes("image").num_codebooks
    new = h * (w * books + 1) + 2  # the rows with their <eol>, <eoi>, <eos>
    rows = [torch.from_numpy(p) for p in [*prompts, *(unconditional or [])]]
    ids, padding = pad_left(rows, vocab["<pad>"])
    if ids.shape[1] + new - 1 > model.config.block_size:
        raise InvalidTokensError(
            f"a prompt of {ids.shape[1]} ids and a {h}x{w} image ({new} ids) are over the model's "
            f"block of {model.config.block_size}"
        )
    n = len(prompts)
    out, latents = sample_sequences(
        model,
        ids[:n],
        new,
        temperature,
        top_k,
        top_p,
        generator=generator,
        padding=padding if padding.any() else None,
        rules=rules,
        unconditional=ids[n:] if unconditional else None,
        cfg_scale=cfg_scale,
    )
    if latents is not None:  # the vectors of the h * w placeholders each row now ends with
        cells = latents[:, -new:-2].reshape(n, h, w + 1, -1)[:, :, :w]
        return list(cells.cpu().numpy())
    return [
        row[~pad].numpy()
        for row, pad in zip(out.cpu(), torch.nn.functional.pad(padding[:n], (0, new)), strict=True)
    ]


def sample_speech(
    model: Transformer,
    vocab: Vocabulary,
    prompt: np.ndarray,
    frames: int,
    n: int = 1,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> list[np.ndarray]:
    """``n`` continuations of a speech prompt's ``(K, F)`` codes by up to ``frames`` frames
    (the model may end the span sooner), constrained to the audio rules (each codebook's
    range at its stage): ``(K, F + new frames)`` codes each, the prompt's first."""
    prompt_ids = sequence.speech_prompt(vocab, prompt)
    total = prompt.shape[1] + frames
    rules = [FormatRule(vocab, "speech_continuation", audio_frames=total).feed(prompt_ids) for _ in range(n)]
    media = vocab.codes("audio")
    late = media.num_codebooks - 1 if media.audio_layout == "delay" else 0
    new = (total + late) * media.num_codebooks - (len(prompt_ids) - 2) + 2  # the rest, <eoa> <eos>
    if len(prompt_ids) + new - 1 > model.config.block_size:
        raise InvalidTokensError(
            f"a prompt of {prompt.shape[1]} frames and {frames} more are {len(prompt_ids) + new} ids, "
            f"over the model's block of {model.config.block_size} + 1: shorten the prompt or the continuation"
        )
    ids = torch.from_numpy(prompt_ids)[None].repeat(n, 1)
    out = generate(model, ids, new, temperature, top_k, top_p, generator=generator, rules=rules)
    codes = []
    for row in out.cpu().numpy():
        (_, start, end), *_ = [span for span in sequence.find_spans(vocab, row) if span[0] == "audio"]
        codes.append(sequence.parse_audio(vocab, row[start:end]))
    return codes
