"""Generated sequences back to media, through the zoo tokenizer the vocabulary names (and
media to the codes a prompt holds).

The vocabulary records the tokenizer's name and the SHA-256 of the weights its codes came
from; decoding with a tokenizer whose weights are now other ones would draw other media
from the same ids, so that is an error rather than a wrong picture.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from tokenizers_zoo.datasets.build import checkpoint_hash
from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.ntp.sequence import find_spans, latent_grid, parse_image
from tokenizers_zoo.ntp.vocabulary import Vocabulary, VocabularyMismatchError


def media_tokenizer(vocab: Vocabulary, modality: str) -> Any:
    """The zoo tokenizer of ``modality``'s codes, checked to have the weights they came from."""
    import tokenizers_zoo as tz

    codes = vocab.codes(modality)
    tok = tz.load(codes.tokenizer)
    weights = checkpoint_hash(codes.tokenizer, None)
    if weights != codes.weights_sha256:
        raise VocabularyMismatchError(
            f"the model was trained on codes of {codes.tokenizer} with weights {codes.weights_sha256}; "
            f"the zoo's {codes.tokenizer} now has weights {weights}, which would decode them as other media"
        )
    return tok


def decode_one(tok: Any, data: np.ndarray) -> np.ndarray:
    """One item's ids or latents (the tokenizer's layout, no batch axis) as media: uint8
    ``(H, W, 3)`` pixels or float32 ``(C, T)`` samples."""
    from tokenizers_zoo.media.files import media_arrays

    return media_arrays(tok.info.modality, tok.decode(torch.from_numpy(data)[None]))[0]


def speech_bandwidth(vocab: Vocabulary, tok: Any) -> float | None:
    """The bitrate at which ``tok`` decodes the vocabulary's audio codebooks (``None`` for a
    codec of one rate): a model trained on the first K codebooks of a residual codec decodes
    at the bandwidth that pays for K, which need not be the dataset's; a K no bandwidth pays
    for cannot be decoded, which is said before anything is sampled."""
    books = vocab.codes("audio").num_codebooks
    if not hasattr(tok, "bandwidths"):
        if books != len(tok.info.vocab_size):
            raise VocabularyMismatchError(
                f"the model uses {books} codebooks of {tok.name}, which decodes {len(tok.info.vocab_size)}"
            )
        return None
    for bandwidth in tok.bandwidths:
        if tok.codebooks_for(bandwidth) == books:
            return bandwidth
    rates = ", ".join(f"{tok.codebooks_for(b)} ({b:g} kbps)" for b in tok.bandwidths)
    raise VocabularyMismatchError(
        f"the model uses {books} codebooks of {tok.name}, which decodes {rates}: "
        "train it with data.codebooks set to one of those"
    )


def audio_codes(vocab: Vocabulary, samples: np.ndarray, sample_rate: int, tok: Any) -> np.ndarray:
    """A prompt's ``(K, frames)`` codes as the training data held them: encoded with the
    dataset's options (its bandwidth), then its first K codebooks (those the model sees)."""
    media = vocab.codes("audio")
    ids = tok.encode(samples, sample_rate=sample_rate, **media.options).ids[0]
    return ids[: media.num_codebooks].numpy()


def sequence_images(vocab: Vocabulary, ids: np.ndarray, tok: Any = None) -> list[np.ndarray]:
    """Every image span of one sequence, decoded to uint8 ``(H, W, 3)`` pixels."""
    spans = [(start, end) for modality, start, end in find_spans(vocab, ids) if modality == "image"]
    if spans:
        tok = tok or media_tokenizer(vocab, "image")
    return [decode_one(tok, parse_image(vocab, ids[start:end])) for start, end in spans]


def decode_images(vocab: Vocabulary, sequences: list[np.ndarray], tok: Any = None) -> list[np.ndarray]:
    """The first image of each sequence as uint8 ``(H, W, 3)`` pixels; for a continuous
    image medium, ``sequences`` are the ``(h, w, dim)`` latents ``sample.sample_images`` gives."""
    tok = tok or media_tokenizer(vocab, "image")
    if vocab.codes("image").latent_dim:
        return [decode_one(tok, latent_grid(vocab, grid)) for grid in sequences]
    images = []
    for ids in sequences:
        found = sequence_images(vocab, ids, tok)
        if not found:
            raise InvalidTokensError("the sequence holds no whole image span (<boi> ... <eoi>)")
        images.append(found[0])
    return images


def image_grid(images: list[np.ndarray], columns: int | None = None) -> np.ndarray:
    """Images of one size side by side, ``columns`` a row (default: a square-ish grid)."""
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    h, w, c = images[0].shape
    grid = np.zeros((rows * h, columns * w, c), dtype=np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        grid[r * h : (r + 1) * h, col * w : (col + 1) * w] = image
    return grid
