"""Text as token ids for the NTP models: a character vocabulary taken from a corpus (what
nanoGPT's shakespeare_char uses), raw bytes (256 ids, any text) or a Hugging Face
``tokenizers`` BPE file (the optional ``tokenizers`` package), and the corpus split into a
training and a held-out part the way nanoGPT splits it (the first 90% trains)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from tokenizers_zoo.errors import InvalidTokensError, TokenizersZooError


class CorpusError(TokenizersZooError, ValueError):
    """A text corpus that cannot be read or tokenized as asked."""


@dataclass(frozen=True)
class TextVocabulary:
    """``chars`` lists the characters by id; ``None`` means UTF-8 bytes (ids 0..255)."""

    chars: tuple[str, ...] | None = None

    @classmethod
    def from_corpus(cls, text: str) -> TextVocabulary:
        return cls(tuple(sorted(set(text))))

    @property
    def size(self) -> int:
        return 256 if self.chars is None else len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        if self.chars is None:
            return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise InvalidTokensError(f"characters not in the vocabulary: {''.join(unknown[:20])!r}")
        return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids: Any) -> str:
        ids = [int(i) for i in ids]
        if any(i < 0 or i >= self.size for i in ids):
            raise InvalidTokensError(f"ids outside the text vocabulary 0..{self.size - 1}")
        if self.chars is None:
            return bytes(ids).decode("utf-8", errors="replace")
        return "".join(self.chars[i] for i in ids)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "bytes"} if self.chars is None else {"kind": "chars", "chars": "".join(self.chars)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextVocabulary:
        return cls(None) if data.get("kind") == "bytes" else cls(tuple(data["chars"]))


@dataclass(frozen=True)
class BPEText:
    """A Hugging Face ``tokenizers`` file (BPE or any model it holds), kept whole as JSON so a
    checkpoint carries the text tokenizer its ids came from."""

    json: str

    @classmethod
    def from_file(cls, path: str | Path) -> BPEText:
        try:
            text = cls(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise CorpusError(f"cannot read the tokenizer file {path}: {exc}") from exc
        text.tokenizer  # noqa: B018  # fails here, on a missing package or a bad file
        return text

    @cached_property
    def tokenizer(self) -> Any:
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise CorpusError(
                "a Hugging Face tokenizer file as the text vocabulary needs the tokenizers package "
                "(pip install 'tokenizers-zoo[bpe]'), which is not installed"
            ) from None
        try:
            return Tokenizer.from_str(self.json)
        except Exception as exc:  # the Rust side raises its own exception type
            raise CorpusError(f"not a Hugging Face tokenizer file: {exc}") from exc

    @property
    def size(self) -> int:
        return int(self.tokenizer.get_vocab_size(with_added_tokens=True))

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self.tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.int64)

    def decode(self, ids: Any) -> str:
        ids = [int(i) for i in ids]
        if any(i < 0 or i >= self.size for i in ids):
            raise InvalidTokensError(f"ids outside the text vocabulary 0..{self.size - 1}")
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "bpe", "sha256": hashlib.sha256(self.json.encode()).hexdigest(), "json": self.json}


TextPart = TextVocabulary | BPEText


def text_vocabulary(spec: str, corpus: str | None = None) -> TextPart:
    """``"bytes"``, ``"chars"`` (the characters of ``corpus``) or the path of a Hugging Face
    tokenizer ``.json`` file."""
    if spec == "bytes":
        return TextVocabulary()
    if spec == "chars":
        if corpus is None:
            raise CorpusError(
                "data.vocab chars takes its characters from a text corpus; use bytes or a .json"
            )
        return TextVocabulary.from_corpus(corpus)
    if spec.endswith(".json"):
        return BPEText.from_file(spec)
    raise CorpusError(f"data.vocab must be chars, bytes or a tokenizers .json file, got {spec!r}")


def text_from_dict(data: dict[str, Any]) -> TextPart:
    """The inverse of ``to_dict`` for any text part."""
    return BPEText(data["json"]) if data.get("kind") == "bpe" else TextVocabulary.from_dict(data)


def load_corpus(path: str | Path, vocab: str, val_fraction: float) -> tuple[TextPart, np.ndarray, np.ndarray]:
    """The text vocabulary (``text_vocabulary(vocab)``) and the train and held-out ids."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read the corpus {path}: {exc}") from exc
    vocabulary = text_vocabulary(vocab, text)
    ids = vocabulary.encode(text)
    split = int(len(ids) * (1 - val_fraction))
    return vocabulary, ids[:split], ids[split:]


def windows(
    ids: np.ndarray, block: int, batch: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``batch`` random windows of ``block`` ids and the ids one position on (the targets)."""
    if len(ids) <= block:
        raise CorpusError(f"the corpus has {len(ids)} ids, too few for windows of {block}")
    starts = rng.integers(0, len(ids) - block, batch)
    x = np.stack([ids[s : s + block] for s in starts])
    y = np.stack([ids[s + 1 : s + 1 + block] for s in starts])
    return x, y
