"""The sequence formats: text and media codes as one line of vocabulary ids, with the loss
mask that says which ids the model is trained to predict.

Media spans (Emu3's structure):

    image   <boi> <res:HxW> row 0 codes <eol> ... row H-1 codes <eol> <eoi>
            (several codebooks: each position's codes in codebook order)
    audio   <boa> frame 0 codebooks 0..K-1, frame 1 ... <eoa>          (flatten)
            <boa> step s: codebook k's frame s - k, <pad> outside  <eoa>  (MusicGen's delay)

Formats (each builder returns ``Example(ids, loss_mask)``):

    text_only             <bos> text <eos>                                  loss: all but <bos>
    class_conditional     <bos> <class:N> image-span <eos>  (LlamaGen)      loss: span and <eos>
    caption_conditional   <bos> caption-text image-span <eos>               loss: span and <eos>
    interleaved           <bos> text, spans, <task:NAME>, boxes ... <eos>   loss: all but <bos>
    speech_continuation   <bos> audio-span <eos>                            loss: the frames after
                                                                            the prompt, and the end

``unconditional=True`` puts ``<null>`` where the class or caption was: trained with that at a
small probability (``cfg_dropout``), the model also learns the unconditional stream that
classifier-free guidance needs. ``loss_mask[i]`` is whether ``ids[i]`` is a target.

Continuous images (a tokenizer of latents, e.g. ``image-kl-f8-c16``) have the same span with
the medium's placeholder id at each cell, and ``Example.latents`` holds the cells' vectors in
the order of their placeholders (row by row): the model adds each vector, projected, to its
placeholder's embedding, and its continuous head predicts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.ntp.vocabulary import BRACKETS, Vocabulary

FORMATS = ("text_only", "class_conditional", "caption_conditional", "interleaved", "speech_continuation")


class Example(NamedTuple):
    """One training sequence: int64 ``ids`` and a bool ``loss_mask`` of the same length;
    ``latents`` ``(placeholders, dim)`` float32, the vector of each latent placeholder in
    ``ids`` in order (``None`` without continuous media)."""

    ids: np.ndarray
    loss_mask: np.ndarray
    latents: np.ndarray | None = None


@dataclass(frozen=True)
class Media:
    """A media part of an interleaved sequence: the tokenizer's ids in its token layout
    (``(h, w)`` or ``(h, w, K)`` for images, ``(K, frames)`` for audio)."""

    modality: str
    codes: np.ndarray


def _ids(*parts: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(p, dtype=np.int64).reshape(-1) for p in parts])


def image_span(vocab: Vocabulary, codes: np.ndarray) -> np.ndarray:
    """``<boi> <res:HxW>``, each row's codes then ``<eol>``, ``<eoi>``; for a continuous
    medium ``codes`` are the ``(h, w, dim)`` latents, and each cell holds the placeholder."""
    codes = np.asarray(codes)
    if vocab.codes("image").latent_dim:
        grid = np.zeros((*latent_grid(vocab, codes).shape[:2], 1), dtype=np.int64)
    else:
        grid = codes if codes.ndim == 3 else codes[..., None]
    h, w, k = grid.shape
    if k != vocab.codes("image").num_codebooks:
        raise InvalidTokensError(
            f"image codes with {k} codebooks; the vocabulary has {vocab.codes('image').num_codebooks}"
        )
    rows = vocab.to_vocab("image", grid, np.arange(k)).reshape(h, w * k)
    rows = np.concatenate([rows, np.full((h, 1), vocab["<eol>"])], axis=1)
    return _ids([vocab["<boi>"], vocab.resolution_token((h, w))], rows, [vocab["<eoi>"]])


def latent_grid(vocab: Vocabulary, latents: np.ndarray) -> np.ndarray:
    """``(h, w, dim)`` float32 latents of the vocabulary's continuous image medium, checked."""
    latents = np.asarray(latents, dtype=np.float32)
    dim = vocab.codes("image").latent_dim
    if latents.ndim != 3 or latents.shape[-1] != dim:
        raise InvalidTokensError(f"continuous image tokens are (h, w, {dim}) latents, got {latents.shape}")
    if not np.isfinite(latents).all():
        raise InvalidTokensError("latents hold NaN or infinity")
    return latents


def media_latents(vocab: Vocabulary, media: Media) -> np.ndarray | None:
    """The vectors of a media part's placeholders, row by row (``None``: discrete codes)."""
    if media.modality != "image" or not vocab.codes("image").latent_dim:
        return None
    grid = latent_grid(vocab, media.codes)
    return grid.reshape(-1, grid.shape[-1])


def _latents(parts: Sequence[np.ndarray | None]) -> np.ndarray | None:
    found = [p for p in parts if p is not None]
    return np.concatenate(found) if found else None


def audio_frames(vocab: Vocabulary, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ids between ``<boa>`` and ``<eoa>`` for ``(K, frames)`` codes, and the frame each
    id belongs to (the step, in the delay layout: ``<pad>`` fillers are of no frame)."""
    codes = np.asarray(codes)
    media = vocab.codes("audio")
    k, frames = codes.shape
    if k != media.num_codebooks:
        raise InvalidTokensError(f"audio codes with {k} codebooks; the vocabulary has {media.num_codebooks}")
    ids = vocab.to_vocab("audio", codes, np.arange(k)[:, None])
    if media.audio_layout == "flatten" or k == 1:
        return ids.T.reshape(-1), np.repeat(np.arange(frames), k)
    steps = frames + k - 1
    delayed = np.full((steps, k), vocab["<pad>"], dtype=np.int64)
    for book in range(k):
        delayed[book : book + frames, book] = ids[book]
    return delayed.reshape(-1), np.repeat(np.arange(steps), k)


def audio_span(vocab: Vocabulary, codes: np.ndarray) -> np.ndarray:
    """``<boa>``, the codes in the vocabulary's audio layout, ``<eoa>``."""
    return _ids([vocab["<boa>"]], audio_frames(vocab, codes)[0], [vocab["<eoa>"]])


def box_ids(vocab: Vocabulary, box: Sequence[float]) -> np.ndarray:
    """UnifiedMLLM's grounding: ``<box>``, the corners ``(x0, y0, x1, y1)`` (fractions of
    the image's width and height) as ``<coord:K>`` of ``vocab.coordinate_bins`` bins, ``</box>``."""
    if len(box) != 4 or not all(0.0 <= c <= 1.0 for c in box):
        raise InvalidTokensError(f"a box is 4 fractions of the image in [0, 1], got {list(box)}")
    bins = vocab.coordinate_bins
    coords = [vocab[f"<coord:{min(bins - 1, int(c * bins))}>"] for c in box]
    return _ids([vocab["<box>"]], coords, [vocab["</box>"]])


def parse_box(vocab: Vocabulary, ids: Sequence[int]) -> tuple[float, float, float, float]:
    """``<box>`` four ``<coord:K>`` ``</box>`` -> the corners, each at its bin's centre."""
    names = [vocab.name_of(i) for i in ids]
    if len(names) != 6 or names[0] != "<box>" or names[-1] != "</box>":
        raise InvalidTokensError(f"a box is <box>, four coordinates, </box>; got {' '.join(names)}")
    if not all(n.startswith("<coord:") for n in names[1:5]):
        raise InvalidTokensError(f"a box holds four <coord:K> tokens; got {' '.join(names)}")
    x0, y0, x1, y1 = ((int(n[7:-1]) + 0.5) / vocab.coordinate_bins for n in names[1:5])
    return x0, y0, x1, y1


def media_span(vocab: Vocabulary, media: Media) -> np.ndarray:
    if media.modality == "image":
        return image_span(vocab, media.codes)
    if media.modality == "audio":
        return audio_span(vocab, media.codes)
    raise InvalidTokensError(f"no span format for {media.modality} yet")


def _example(ids: np.ndarray, loss_from: int, latents: np.ndarray | None = None) -> Example:
    mask = np.zeros(len(ids), dtype=bool)
    mask[loss_from:] = True
    return Example(ids, mask, latents)


def text_only(vocab: Vocabulary, text: str) -> Example:
    return _example(_ids([vocab["<bos>"]], vocab.text.encode(text), [vocab["<eos>"]]), 1)


def class_conditional(
    vocab: Vocabulary, label: int, codes: np.ndarray, unconditional: bool = False
) -> Example:
    condition = vocab["<null>"] if unconditional else vocab.class_token(label)
    ids = _ids([vocab["<bos>"], condition], image_span(vocab, codes), [vocab["<eos>"]])
    return _example(ids, 2, media_latents(vocab, Media("image", codes)))


def caption_conditional(
    vocab: Vocabulary, caption: str, codes: np.ndarray, unconditional: bool = False
) -> Example:
    condition = [vocab["<null>"]] if unconditional else vocab.text.encode(caption)
    prefix = _ids([vocab["<bos>"]], condition)
    ids = _ids(prefix, image_span(vocab, codes), [vocab["<eos>"]])
    return _example(ids, len(prefix), media_latents(vocab, Media("image", codes)))


@dataclass(frozen=True)
class Task:
    """A task token in an interleaved sequence (``<task:NAME>``), for the router."""

    name: str


@dataclass(frozen=True)
class Box:
    """A grounding box in an interleaved sequence: corners as fractions of the image."""

    corners: tuple[float, float, float, float]


def interleaved(vocab: Vocabulary, parts: Sequence[str | Media | Task | Box]) -> Example:
    """Text, media spans, task tokens and boxes in the order given."""

    def piece(part: str | Media | Task | Box) -> np.ndarray:
        if isinstance(part, str):
            return vocab.text.encode(part)
        if isinstance(part, Task):
            return _ids([vocab[f"<task:{part.name}>"]])
        if isinstance(part, Box):
            return box_ids(vocab, part.corners)
        return media_span(vocab, part)

    ids = _ids([vocab["<bos>"]], *(piece(p) for p in parts), [vocab["<eos>"]])
    latents = _latents([media_latents(vocab, p) for p in parts if isinstance(p, Media)])
    return _example(ids, 1, latents)


def speech_continuation(vocab: Vocabulary, codes: np.ndarray, prompt_frames: int = 0) -> Example:
    """Loss on the frames from ``prompt_frames`` on (0: every frame), ``<eoa>`` and ``<eos>``."""
    body, frame_of = audio_frames(vocab, codes)
    ids = _ids([vocab["<bos>"], vocab["<boa>"]], body, [vocab["<eoa>"], vocab["<eos>"]])
    mask = np.concatenate([[False, False], frame_of >= prompt_frames, [True, True]])
    return Example(ids, mask)


# -- prompts for sampling ------------------------------------------------------------------
def image_prompt(vocab: Vocabulary, condition: int | str | None, grid: tuple[int, int]) -> np.ndarray:
    """The start of a class-conditional (``condition`` a class id), caption-conditional
    (a caption) or unconditional (``None``) sequence, up to the image's resolution token:
    what sampling continues."""
    if condition is None:
        head = [vocab["<null>"]]
    elif isinstance(condition, str):
        head = vocab.text.encode(condition)
    else:
        head = [vocab.class_token(condition)]
    return _ids([vocab["<bos>"]], head, [vocab["<boi>"], vocab.resolution_token(grid)])


def speech_prompt(vocab: Vocabulary, codes: np.ndarray) -> np.ndarray:
    """The start of a speech-continuation sequence from a prompt's ``(K, frames)`` codes:
    ``<bos> <boa>`` and the prompt's steps. In the delay layout these hold codebook 0 up to
    the last frame and codebook ``k`` up to ``k`` frames before it; the model continues
    from there, drawing those late codes anew."""
    body, step = audio_frames(vocab, codes)
    return _ids([vocab["<bos>"], vocab["<boa>"]], body[step < np.asarray(codes).shape[1]])


# -- reading spans back ------------------------------------------------------------------
def find_spans(vocab: Vocabulary, ids: Sequence[int]) -> list[tuple[str, int, int]]:
    """``(modality, start, end)`` of every whole media span in ``ids`` (``ids[start]`` is
    its begin token, ``ids[end - 1]`` its end token)."""
    ids = [int(i) for i in ids]
    spans = []
    for modality, (begin, end) in BRACKETS.items():
        if begin not in vocab or end not in vocab:
            continue
        b, e = vocab[begin], vocab[end]
        start = None
        for i, token in enumerate(ids):
            if token == b:
                start = i
            elif token == e and start is not None:
                spans.append((modality, start, i + 1))
                start = None
    return sorted(spans, key=lambda s: s[1])


def parse_image(vocab: Vocabulary, span: Sequence[int]) -> np.ndarray:
    """An image span (``<boi>`` ... ``<eoi>``) -> the tokenizer's ids, ``(h, w)`` or
    ``(h, w, K)``; a span that breaks the format is an ``InvalidTokensError``."""
    span = np.asarray(span, dtype=np.int64)
    if len(span) < 3 or span[0] != vocab["<boi>"] or span[-1] != vocab["<eoi>"]:
        raise InvalidTokensError("an image span starts with <boi> and ends with <eoi>")
    res = vocab.name_of(span[1])
    if not res.startswith("<res:"):
        raise InvalidTokensError(f"an image span's second token is a resolution, got {res}")
    h, w = (int(v) for v in res[5:-1].split("x"))
    k = vocab.codes("image").num_codebooks
    body = span[2:-1]
    if len(body) != h * (w * k + 1):
        raise InvalidTokensError(f"a {h}x{w} image span holds {h * (w * k + 1)} ids, got {len(body)}")
    rows = body.reshape(h, w * k + 1)
    if (rows[:, -1] != vocab["<eol>"]).any():
        raise InvalidTokensError("every image row ends with <eol>")
    codes = vocab.from_vocab("image", rows[:, :-1].reshape(h, w, k), np.arange(k))
    return codes[..., 0] if k == 1 else codes


def parse_audio(vocab: Vocabulary, span: Sequence[int]) -> np.ndarray:
    """An audio span (``<boa>`` ... ``<eoa>``) -> ``(K, frames)`` tokenizer ids."""
    span = np.asarray(span, dtype=np.int64)
    if len(span) < 2 or span[0] != vocab["<boa>"] or span[-1] != vocab["<eoa>"]:
        raise InvalidTokensError("an audio span starts with <boa> and ends with <eoa>")
    media = vocab.codes("audio")
    k, body = media.num_codebooks, span[1:-1]
    if len(body) % k:
        raise InvalidTokensError(f"an audio span holds whole steps of {k} ids, got {len(body)} ids")
    steps = body.reshape(-1, k)
    if media.audio_layout == "flatten" or k == 1:
        return vocab.from_vocab("audio", steps.T, np.arange(k)[:, None])
    frames = len(steps) - (k - 1)
    if frames < 0:
        raise InvalidTokensError(f"a delayed audio span holds at least {k - 1} steps")
    books = [steps[book : book + frames, book] for book in range(k)]
    return vocab.from_vocab("audio", np.stack(books), np.arange(k)[:, None])
