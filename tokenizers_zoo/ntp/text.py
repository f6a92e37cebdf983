"""Text as token ids for the NTP models: a character vocabulary taken from a corpus (what
nanoGPT's shakespeare_char uses) or raw bytes (256 ids, any text), and the corpus split
into a training and a held-out part the way nanoGPT splits it (the first 90% trains)."""

from __future__ import annotations

from dataclasses import dataclass
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


def load_corpus(
    path: str | Path, vocab: str, val_fraction: float
) -> tuple[TextVocabulary, np.ndarray, np.ndarray]:
    """The vocabulary (``"chars"`` or ``"bytes"``) and the train and held-out ids."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read the corpus {path}: {exc}") from exc
    if vocab not in ("chars", "bytes"):
        raise CorpusError(f"data.vocab must be chars or bytes, got {vocab!r}")
    vocabulary = TextVocabulary.from_corpus(text) if vocab == "chars" else TextVocabulary()
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
