"""The vocabulary of a multimodal NTP model: which id means what.

    [ text | specials | <res:HxW> | <class:N> | <task:NAME> | <coord:K> | codes of each medium ]

Text ids come first and are the text tokenizer's own (bytes, a corpus's characters, or a
Hugging Face ``tokenizers`` file), so a text-only model's ids are plain text ids. Then the
special tokens (``<bos>``, ``<eos>``, ``<pad>``, ``<null>`` for the unconditional stream of
classifier-free guidance, the media brackets ``<boi>``/``<eoi>``, ``<boa>``/``<eoa>``,
``<bov>``/``<eov>``, ``<eol>`` after each image row, the grounding brackets
``<box>``/``</box>``), resolution, class, task and coordinate tokens (UnifiedMLLM's
grounding: a box is ``<box>`` and four ``<coord:K>`` of ``coordinate_bins`` bins), and last
one range per codebook of each media tokenizer, in the order of ``media``.

The layout is a pure function of the fields, and ``fingerprint`` hashes them; a checkpoint
stores the vocabulary and its fingerprint, so its ids are never read with another layout,
and ``check_dataset`` refuses a token dataset made by another tokenizer, other weights or
other codebooks than the ones the vocabulary was built for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tokenizers_zoo.errors import InvalidTokensError, TokenizersZooError
from tokenizers_zoo.ntp.text import TextPart, TextVocabulary, text_from_dict

FORMAT = "tzoo-ntp-vocabulary"
FORMAT_VERSION = 1
SPECIALS = (
    "<pad>",
    "<bos>",
    "<eos>",
    "<null>",
    "<boi>",
    "<eoi>",
    "<boa>",
    "<eoa>",
    "<bov>",
    "<eov>",
    "<eol>",
    "<box>",
    "</box>",
)
#: How the ``(codebooks, frames)`` ids of audio become one sequence: ``flatten`` interleaves
#: the codebooks frame by frame; ``delay`` is MusicGen's pattern (codebook k k steps late).
AUDIO_LAYOUTS = ("flatten", "delay")
#: The begin and end tokens of a span of each modality.
BRACKETS = {"image": ("<boi>", "<eoi>"), "audio": ("<boa>", "<eoa>"), "video": ("<bov>", "<eov>")}


class VocabularyMismatchError(TokenizersZooError, ValueError):
    """Ids of one vocabulary met a model, checkpoint or dataset of another."""


@dataclass(frozen=True)
class MediaCodes:
    """One media tokenizer's codes in the vocabulary: ``vocab_size`` has one entry per
    codebook the model sees (an audio codec at a low bitrate uses its first few), each
    codebook its own range, so a position's codebook is in its id. ``weights_sha256`` and
    ``options`` (a codec's bandwidth) say which codes these are: the same ids from other
    weights mean other things.

    A continuous tokenizer (``latent_dim`` > 0, images only) has one "codebook" of one id:
    the placeholder each latent vector's position holds, whose vector travels beside the
    ids (``sequence.Example.latents``) and which the model's continuous head predicts."""

    tokenizer: str
    modality: str
    vocab_size: tuple[int, ...]
    weights_sha256: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    audio_layout: str = "flatten"
    latent_dim: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "vocab_size", tuple(int(v) for v in self.vocab_size))
        if not self.vocab_size or min(self.vocab_size) < 1:
            raise VocabularyMismatchError(f"{self.tokenizer}: media codes need discrete codebooks")
        if self.latent_dim and (self.vocab_size != (1,) or self.modality != "image"):
            raise VocabularyMismatchError(
                f"{self.tokenizer}: continuous media are images with one placeholder id, got "
                f"{self.modality} with codebooks {self.vocab_size}"
            )
        if self.modality not in BRACKETS:
            raise VocabularyMismatchError(f"{self.tokenizer}: no span tokens for modality {self.modality!r}")
        if self.audio_layout not in AUDIO_LAYOUTS:
            raise VocabularyMismatchError(
                f"audio_layout must be one of {', '.join(AUDIO_LAYOUTS)}, got {self.audio_layout!r}"
            )

    @property
    def num_codebooks(self) -> int:
        return len(self.vocab_size)

    @property
    def kind(self) -> str:
        return "continuous" if self.latent_dim else "discrete"

    @classmethod
    def from_manifest(
        cls, manifest: dict[str, Any], codebooks: int, audio_layout: str = "flatten"
    ) -> MediaCodes:
        """The codes of the tokenizer a token dataset's manifest names (its first
        ``codebooks`` codebooks; a continuous tokenizer's placeholder)."""
        tok = manifest["tokenizer"]
        info = tok["info"]
        if info["kind"] != "discrete":
            if info["modality"] != "image":
                raise VocabularyMismatchError(
                    f"{tok['name']} gives continuous {info['modality']} latents; the NTP sequences "
                    "take continuous images only"
                )
            return cls(
                tokenizer=tok["name"],
                modality="image",
                vocab_size=(1,),
                weights_sha256=tok.get("weights_sha256"),
                options=dict(tok.get("options") or {}),
                latent_dim=int(info["latent_dim"]),
            )
        if not 1 <= codebooks <= len(info["vocab_size"]):
            raise VocabularyMismatchError(
                f"{tok['name']} has {len(info['vocab_size'])} codebooks, not {codebooks}"
            )
        return cls(
            tokenizer=tok["name"],
            modality=info["modality"],
            vocab_size=tuple(info["vocab_size"][:codebooks]),
            weights_sha256=tok.get("weights_sha256"),
            options=dict(tok.get("options") or {}),
            audio_layout=audio_layout,
        )

    def to_dict(self) -> dict[str, Any]:
        data = {
            "tokenizer": self.tokenizer,
            "modality": self.modality,
            "vocab_size": list(self.vocab_size),
            "weights_sha256": self.weights_sha256,
            "options": self.options,
            "audio_layout": self.audio_layout,
        }
        # Only when set, so the layouts (and fingerprints) of discrete vocabularies stay as they were.
        return {**data, "latent_dim": self.latent_dim} if self.latent_dim else data


@dataclass(frozen=True)
class Vocabulary:
    """Every id of a model and what it stands for (the module's doc has the layout).

    ``specials`` are the special tokens, ``SPECIALS`` unless given (a text model trained on
    a bare corpus, as nanoGPT's, has none). ``vocab["<bos>"]`` is an id by name."""

    text: TextPart = field(default_factory=TextVocabulary)
    specials: tuple[str, ...] = SPECIALS
    resolutions: tuple[tuple[int, int], ...] = ()
    num_classes: int = 0
    tasks: tuple[str, ...] = ()
    coordinate_bins: int = 0
    media: tuple[MediaCodes, ...] = ()
    # The layout, worked out once from the fields above.
    _named: dict[str, int] = field(init=False, repr=False, compare=False)
    _names: list[str] = field(init=False, repr=False, compare=False)
    _offsets: dict[str, list[int]] = field(init=False, repr=False, compare=False)
    _size: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "specials", tuple(self.specials))
        object.__setattr__(self, "resolutions", tuple((int(h), int(w)) for h, w in self.resolutions))
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "media", tuple(self.media))
        modalities = [m.modality for m in self.media]
        if len(set(modalities)) != len(modalities):
            raise VocabularyMismatchError(f"one media tokenizer per modality, got {modalities}")
        names = [
            *self.specials,
            *(f"<res:{h}x{w}>" for h, w in self.resolutions),
            *(f"<class:{n}>" for n in range(self.num_classes)),
            *(f"<task:{t}>" for t in self.tasks),
            *(f"<coord:{k}>" for k in range(self.coordinate_bins)),
        ]
        if len(set(names)) != len(names):
            raise VocabularyMismatchError("a special, resolution or task token is listed twice")
        start = self.text.size
        object.__setattr__(self, "_named", {name: start + i for i, name in enumerate(names)})
        object.__setattr__(self, "_names", names)
        offsets, cursor = {}, start + len(names)
        for codes in self.media:
            offsets[codes.modality] = [cursor + sum(codes.vocab_size[:k]) for k in range(codes.num_codebooks)]
            cursor += sum(codes.vocab_size)
        object.__setattr__(self, "_offsets", offsets)
        object.__setattr__(self, "_size", cursor)

    # -- sizes and names ---------------------------------------------------------------
    @property
    def size(self) -> int:
        return self._size

    def __getitem__(self, name: str) -> int:
        """The id of a named token: ``"<bos>"``, ``"<res:16x16>"``, ``"<class:3>"``, ..."""
        try:
            return self._named[name]
        except KeyError:
            raise InvalidTokensError(f"no token {name} in this vocabulary ({self.summary()})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._named

    def class_token(self, label: int) -> int:
        if not 0 <= label < self.num_classes:
            raise InvalidTokensError(f"class {label} is outside this vocabulary's 0..{self.num_classes - 1}")
        return self[f"<class:{label}>"]

    def resolution_token(self, grid: tuple[int, int]) -> int:
        name = f"<res:{grid[0]}x{grid[1]}>"
        if name not in self:
            known = ", ".join(f"{h}x{w}" for h, w in self.resolutions) or "none"
            raise InvalidTokensError(f"no resolution token for a {grid[0]}x{grid[1]} grid (known: {known})")
        return self[name]

    def ids_in(self, prefix: str) -> range:
        """The ids of the named tokens that start with ``prefix`` (they are contiguous):
        ``ids_in("<res:")``, ``ids_in("<class:")``, ``ids_in("<coord:")``."""
        found = [i for name, i in self._named.items() if name.startswith(prefix)]
        return range(min(found), max(found) + 1) if found else range(0)

    def codes(self, modality: str) -> MediaCodes:
        for codes in self.media:
            if codes.modality == modality:
                return codes
        raise VocabularyMismatchError(f"this vocabulary has no {modality} codes ({self.summary()})")

    def code_range(self, modality: str, codebook: int = 0) -> range:
        """The ids of one codebook of a medium."""
        sizes = self.codes(modality).vocab_size
        start = self._offsets[modality][codebook]
        return range(start, start + sizes[codebook])

    def latent_tokens(self) -> tuple[int, ...]:
        """The placeholder id of each continuous medium (where a latent vector goes)."""
        return tuple(self.code_range(m.modality).start for m in self.media if m.latent_dim)

    def to_vocab(self, modality: str, codes: np.ndarray, codebook: int | np.ndarray = 0) -> np.ndarray:
        """A tokenizer's ids (of ``codebook``, or one codebook per element) -> vocabulary ids."""
        codes = np.asarray(codes, dtype=np.int64)
        sizes = np.asarray(self.codes(modality).vocab_size)[codebook]
        if codes.size and ((codes < 0) | (codes >= sizes)).any():
            raise InvalidTokensError(f"{modality} codes outside their codebook's 0..{np.max(sizes) - 1}")
        offsets = np.asarray(self._offsets[modality])[codebook]
        return codes + offsets

    def from_vocab(self, modality: str, ids: np.ndarray, codebook: int | np.ndarray = 0) -> np.ndarray:
        """Vocabulary ids of ``codebook`` -> the tokenizer's ids (the inverse of ``to_vocab``)."""
        ids = np.asarray(ids, dtype=np.int64)
        offsets = np.asarray(self._offsets[modality])[codebook]
        sizes = np.asarray(self.codes(modality).vocab_size)[codebook]
        local = ids - offsets
        if local.size and ((local < 0) | (local >= sizes)).any():
            raise InvalidTokensError(f"ids that are not {modality} codes of the codebook asked for")
        return local

    def name_of(self, token: int) -> str:
        """What one id stands for: ``"text:'a'"``, ``"<eol>"``, ``"image:0:4012"``."""
        token = int(token)
        self.check_ids([token])
        if token < self.text.size:
            return f"text:{self.text.decode([token])!r}"
        named = token - self.text.size
        if named < len(self._names):
            return self._names[named]
        for modality, offsets in self._offsets.items():
            for k, start in enumerate(offsets):
                if start <= token < start + self.codes(modality).vocab_size[k]:
                    return f"{modality}:{k}:{token - start}"
        raise AssertionError("unreachable: check_ids covers every id")

    def describe(self, ids: Iterable[int]) -> str:
        """A sequence in words, one name per id (for debugging and error messages)."""
        return " ".join(self.name_of(i) for i in ids)

    def check_ids(self, ids: Iterable[int]) -> None:
        """Raise ``InvalidTokensError`` for an id outside the vocabulary."""
        bad = [int(i) for i in ids if not 0 <= int(i) < self.size]
        if bad:
            raise InvalidTokensError(f"token id {bad[0]} is outside the vocabulary 0..{self.size - 1}")

    def summary(self) -> str:
        media = ", ".join(
            f"{m.modality} {m.tokenizer} ({'+'.join(map(str, m.vocab_size))})" for m in self.media
        )
        return (
            f"{self.size} ids: text {self.text.size}, {len(self.specials)} specials, "
            f"{len(self.resolutions)} resolutions, {self.num_classes} classes, {len(self.tasks)} tasks, "
            f"{self.coordinate_bins} coordinate bins" + (f", {media}" if media else "")
        )

    # -- saving and checking -----------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        layout = self._layout(whole_text=True)
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **layout, "fingerprint": self.fingerprint}

    @classmethod
    def from_json(cls, data: dict[str, Any], fingerprint: str | None = None) -> Vocabulary:
        """The inverse of ``to_json``. A layout whose fingerprint is not the one the file
        records (a hand-edited or damaged file), or not ``fingerprint`` when given (what a
        model's config recorded), is an error, not a silent new layout."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise VocabularyMismatchError(f"not a {FORMAT} file")
        if data.get("format_version") != FORMAT_VERSION:
            raise VocabularyMismatchError(
                f"vocabulary format version {data.get('format_version')}; this zoo reads {FORMAT_VERSION}"
            )
        try:
            vocab = cls(
                text=text_from_dict(data["text"]),
                specials=tuple(data["specials"]),
                resolutions=tuple(tuple(r) for r in data["resolutions"]),
                num_classes=int(data["num_classes"]),
                tasks=tuple(data["tasks"]),
                coordinate_bins=int(data["coordinate_bins"]),
                media=tuple(MediaCodes(**{**m, "vocab_size": tuple(m["vocab_size"])}) for m in data["media"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise VocabularyMismatchError(f"not a readable vocabulary: {exc}") from exc
        recorded = {data.get("fingerprint"), fingerprint or data.get("fingerprint")}
        if recorded != {vocab.fingerprint}:
            raise VocabularyMismatchError(
                f"the vocabulary's layout has fingerprint {vocab.fingerprint}, which does not match its "
                f"file's {data.get('fingerprint')}"
                + (f" and the model's {fingerprint}" if fingerprint else "")
                + ": the file was changed after it was written, or is another model's"
            )
        return vocab

    @property
    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) of the layout: equal fingerprints, equal ids."""
        return hashlib.sha256(json.dumps(self._layout(), sort_keys=True).encode()).hexdigest()[:16]

    def _layout(self, whole_text: bool = False) -> dict[str, Any]:
        """The fields as JSON; a tokenizer file counts through its hash unless ``whole_text``."""
        text = self.text.to_dict()
        if not whole_text:
            text.pop("json", None)
        return {
            "text": text,
            "specials": list(self.specials),
            "resolutions": [list(r) for r in self.resolutions],
            "num_classes": self.num_classes,
            "tasks": list(self.tasks),
            "coordinate_bins": self.coordinate_bins,
            "media": [m.to_dict() for m in self.media],
        }

    def differences(self, other: Vocabulary) -> str:
        """The parts of the layout that differ, in words (for error messages)."""
        mine, theirs = self._layout(), other._layout()
        keys = [k for k in mine if mine[k] != theirs[k]]
        return (
            "; ".join(f"{k}: {json.dumps(mine[k])[:120]} vs {json.dumps(theirs[k])[:120]}" for k in keys)
            or "none"
        )

    def check_dataset(self, manifest: dict[str, Any], codebooks: int | None = None) -> None:
        """Raise ``VocabularyMismatchError`` unless the token dataset of ``manifest`` holds the
        codes this vocabulary was built for: the same tokenizer, vocabulary, weights and
        options (and, given, as many codebooks)."""
        tok = manifest["tokenizer"]
        modality = tok["info"]["modality"]
        try:
            mine = self.codes(modality)
        except VocabularyMismatchError:
            raise VocabularyMismatchError(
                f"the dataset holds {modality} codes of {tok['name']}; the model's vocabulary has no "
                f"{modality} codes ({self.summary()})"
            ) from None
        theirs = MediaCodes.from_manifest(
            manifest, codebooks or min(mine.num_codebooks, len(tok["info"]["vocab_size"])), mine.audio_layout
        )
        for what, a, b in (
            ("tokenizer", mine.tokenizer, theirs.tokenizer),
            ("codebook sizes", mine.vocab_size, theirs.vocab_size),
            ("tokenizer weights (SHA-256)", mine.weights_sha256, theirs.weights_sha256),
            ("encode options", mine.options, theirs.options),
            ("latent channels", mine.latent_dim, theirs.latent_dim),
        ):
            if a != b:
                raise VocabularyMismatchError(
                    f"the model's vocabulary was built for {modality} codes with {what} {a}, the dataset's "
                    f"are {b} (tokenizer {tok['name']}): its ids would be read as other codes"
                )
