"""Constrained decoding: which ids may come next in a sequence of a given format.

A ``FormatRule`` follows one sequence id by id (the prompt first, then what is sampled)
and at each position gives the allowed ids, as ranges; the sampler masks every other
logit. Inside an image span only the image codes of the position's codebook, an ``<eol>``
exactly after every row and ``<eoi>`` after the last; inside an audio span each
codebook's range at its stage (and ``<pad>`` where MusicGen's delay pattern has no code);
inside a box four coordinates; outside spans what the format allows there. So a sampled
sequence always parses back to media (``sequence.parse_image`` / ``parse_audio``), whatever
the weights.

Every builder of ``sequence.py`` gives sequences its rule accepts (tested), so rules and
formats cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.ntp.sequence import FORMATS
from tokenizers_zoo.ntp.vocabulary import Vocabulary

Allowed = tuple[range, ...]


def _one(token: int) -> range:
    return range(token, token + 1)


class ImageGrid:
    """Inside ``<boi>`` ... ``<eoi>``: a resolution token, then the grid it names."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self.books = vocab.codes("image").num_codebooks
        self.grid: tuple[int, int] | None = None
        self.count = 0  # ids after the resolution token

    def allowed(self) -> Allowed:
        v = self.vocab
        if self.grid is None:
            return (v.ids_in("<res:"),)
        h, w = self.grid
        per_row = w * self.books + 1
        if self.count == h * per_row:
            return (_one(v["<eoi>"]),)
        column = self.count % per_row
        if column == w * self.books:
            return (_one(v["<eol>"]),)
        return (v.code_range("image", column % self.books),)

    def advance(self, token: int) -> bool:
        """Take ``token`` (already checked against ``allowed``); whether the span ended."""
        if self.grid is None:
            h, w = self.vocab.name_of(token)[5:-1].split("x")
            self.grid = (int(h), int(w))
            return False
        self.count += 1
        return token == self.vocab["<eoi>"]


class AudioCodes:
    """Inside ``<boa>`` ... ``<eoa>``: codebook ``k``'s range at stage ``k`` of each step.

    ``flatten``: ``<eoa>`` may come after any whole frame. ``delay``: the first ``<pad>``
    in codebook 0's place ends the frames; the other codebooks then finish their late
    frames (``<pad>`` where they have none) and ``<eoa>`` follows. ``frames`` (when set)
    ends the span after that many frames, as sampling a given length wants."""

    def __init__(self, vocab: Vocabulary, frames: int | None = None) -> None:
        self.vocab = vocab
        media = vocab.codes("audio")
        self.books = media.num_codebooks
        self.delay = media.audio_layout == "delay" and self.books > 1
        self.frames = frames
        self.end: int | None = None  # delay: the step codebook 0 first had no frame
        self.count = 0

    def allowed(self) -> Allowed:
        v, k = self.vocab, self.books
        step, book = divmod(self.count, k)
        eoa, pad = _one(v["<eoa>"]), _one(v["<pad>"])
        if not self.delay:
            if book == 0 and self.frames is not None and step == self.frames:
                return (eoa,)
            return (
                (v.code_range("audio", book), eoa)
                if book == 0 and step > 0
                else (v.code_range("audio", book),)
            )
        if self.end is not None and step == self.end + k - 1:
            return (eoa,)
        if book == 0:
            if self.end is not None or (self.frames is not None and step == self.frames):
                return (pad,)
            return (v.code_range("audio", 0), pad) if step > 0 else (v.code_range("audio", 0),)
        frame = step - book
        if frame < 0 or (self.end is not None and frame >= self.end):
            return (pad,)
        return (v.code_range("audio", book),)

    def advance(self, token: int) -> bool:
        if token == self.vocab["<eoa>"]:
            return True
        if self.delay and self.count % self.books == 0 and token == self.vocab["<pad>"] and self.end is None:
            self.end = self.count // self.books
        self.count += 1
        return False


class BoxCoordinates:
    """Inside ``<box>`` ... ``</box>``: four coordinate tokens, then ``</box>``."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab, self.count = vocab, 0

    def allowed(self) -> Allowed:
        return (_one(self.vocab["</box>"]),) if self.count == 4 else (self.vocab.ids_in("<coord:"),)

    def advance(self, token: int) -> bool:
        self.count += 1
        return token == self.vocab["</box>"]


class FormatRule:
    """The ids a sequence of ``format`` may hold next, from ``<bos>`` on (the module's doc).
    ``audio_frames`` fixes the length of a sampled audio span."""

    def __init__(self, vocab: Vocabulary, format: str, audio_frames: int | None = None) -> None:
        if format not in FORMATS:
            raise InvalidTokensError(f"no format {format!r}; the formats are {', '.join(FORMATS)}")
        self.vocab, self.format, self.audio_frames = vocab, format, audio_frames
        self.span: ImageGrid | AudioCodes | BoxCoordinates | None = None
        self.position = 0
        self.spans_done = 0
        self.last = -1
        self.done = False

    def allowed(self) -> Allowed:
        v = self.vocab
        if self.done:
            return (_one(v["<pad>"]),)
        if self.position == 0:
            return (_one(v["<bos>"]),)
        if self.span is not None:
            return self.span.allowed()
        text, eos = range(0, v.text.size), _one(v["<eos>"])
        boi = _one(v["<boi>"]) if self._has("image") else None
        boa = _one(v["<boa>"]) if self._has("audio") else None
        if self.format == "text_only":
            return (text, eos)
        if self.format == "interleaved":
            box = _one(v["<box>"]) if v.coordinate_bins else None
            return tuple(r for r in (text, boi, boa, v.ids_in("<task:"), box, eos) if r)
        if self.spans_done:
            return (eos,)
        if self.format == "speech_continuation":
            return (_one(v["<boa>"]),)
        if self.format == "class_conditional":
            return (v.ids_in("<class:"), _one(v["<null>"])) if self.position == 1 else (_one(v["<boi>"]),)
        # caption_conditional: the caption's text (maybe none) or <null>, then the image
        if self.position == 1:
            return (text, _one(v["<null>"]), _one(v["<boi>"]))
        return (_one(v["<boi>"]),) if self.last == v["<null>"] else (text, _one(v["<boi>"]))

    def _has(self, modality: str) -> bool:
        return any(m.modality == modality for m in self.vocab.media)

    def advance(self, token: int) -> None:
        """Take the next id; one the rule does not allow is an ``InvalidTokensError``."""
        token = int(token)
        if not any(token in r for r in self.allowed()):
            raise InvalidTokensError(
                f"{self.vocab.name_of(token) if 0 <= token < self.vocab.size else token} is not allowed at "
                f"position {self.position} of a {self.format} sequence"
            )
        v = self.vocab
        if self.span is not None:
            if self.span.advance(token):
                self.span, self.spans_done = None, self.spans_done + 1
        elif token == v["<eos>"]:
            self.done = True
        elif self.position > 0 and token == v["<boi>"]:
            self.span = ImageGrid(v)
        elif self.position > 0 and token == v["<boa>"]:
            self.span = AudioCodes(v, self.audio_frames)
        elif self.position > 0 and token == v["<box>"]:
            self.span = BoxCoordinates(v)
        self.position += 1
        self.last = token

    def feed(self, ids: Iterable[int]) -> FormatRule:
        for token in ids:
            self.advance(token)
        return self


def allowed_mask(rules: list[FormatRule], vocab_size: int, device: torch.device) -> Tensor:
    """``(len(rules), vocab_size)`` bool: True where a row's rule allows the id."""
    mask = torch.zeros(len(rules), vocab_size, dtype=torch.bool)
    for row, rule in enumerate(rules):
        for r in rule.allowed():
            mask[row, r.start : r.stop] = True
    return mask.to(device)
