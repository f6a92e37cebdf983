"""What the NTP trainer trains on: fixed-length batches from a text corpus or from a token
dataset (``tzoo tokenize-dataset``), each with the vocabulary its ids belong to.

Both sources give the same interface: ``next_batch()`` (and a position that advances;
``skip(n)`` advances it past the micro-batches other ranks take),
``held_out(n)`` (the same batches at every evaluation), ``state_dict()`` /
``load_state_dict()`` (the position, saved in the checkpoint) and ``check_vocabulary``
(a checkpoint's vocabulary against the one the data needs). A batch is a pure function of
(seed, position), so a run resumed from a checkpoint sees exactly the batches the
uninterrupted run saw.

``TokenSequences``: the dataset's items split once into training and held-out items by a
seeded permutation, or, with ``data.val_path``, all of them trained on and the held-out
items another dataset's (made by the same tokenizer, with the same labels): other photos,
when the training items are several views of each photo. Each epoch visits the training
items in its own seeded order; each item becomes a sequence of ``data.format``
(``sequence.py``), its class or caption replaced by ``<null>`` with probability
``cfg_dropout`` (decided by (seed, epoch, position) alone), then padded with ``<pad>``
(not scored) to ``block_size + 1`` ids; a recording too long for that is cut to its first
frames that fit (speech continuation learns from beginnings), any other sequence too long
is an error that names the block size it needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np
import torch
from torch import Tensor

from tokenizers_zoo.datasets import TokenDataset
from tokenizers_zoo.datasets.shards import Sample
from tokenizers_zoo.errors import TokenizersZooError
from tokenizers_zoo.ntp import sequence
from tokenizers_zoo.ntp.model import Latents
from tokenizers_zoo.ntp.sequence import FORMATS, Example, Media
from tokenizers_zoo.ntp.text import load_corpus, text_vocabulary, windows
from tokenizers_zoo.ntp.vocabulary import AUDIO_LAYOUTS, MediaCodes, Vocabulary, VocabularyMismatchError

#: The media each format needs, and whether it needs labels or captions.
NEEDS = {
    "text_only": (None, "captions"),
    "class_conditional": ("image", "labels"),
    "caption_conditional": ("image", "captions"),
    "interleaved": (None, "captions"),
    "speech_continuation": ("audio", None),
}


class DataConfigError(TokenizersZooError, ValueError):
    """A ``data`` section that does not fit the data it names."""


@dataclass
class NTPData:
    kind: str = "text"  # text: a corpus file; tokens: a token dataset folder
    text: str = "data/text.txt"  # text: the corpus
    vocab: str = "bytes"  # the text ids: bytes, chars (the corpus's) or a tokenizers .json file
    val_fraction: float = 0.1
    path: str = ""  # tokens: the dataset folder tzoo tokenize-dataset wrote
    val_path: str = ""  # tokens: a dataset of the held-out items ("": val_fraction of path's)
    format: str = "class_conditional"  # tokens: one of sequence.FORMATS
    cfg_dropout: float = 0.1  # tokens: probability of <null> in place of the class or caption
    codebooks: int = 0  # tokens: codebooks the model sees (0: every one the dataset holds)
    audio_layout: str = "flatten"  # tokens, audio: flatten or delay (MusicGen)
    coordinate_bins: int = 1000  # grounding tokens <coord:0> .. (0: none)
    tasks: list[str] = field(default_factory=list)  # task tokens <task:NAME>


class Batch(NamedTuple):
    """Inputs and targets ``(B, T)``; ``mask`` (bool, or None: all) says which targets count;
    ``latents``: the continuous tokens of the ``T + 1`` ids, when the media are continuous."""

    inputs: Tensor
    targets: Tensor
    mask: Tensor | None
    latents: Latents | None = None

    def to(self, device: torch.device) -> Batch:
        moved = [None if t is None else t.to(device) for t in (self.inputs, self.targets, self.mask)]
        latents = None if self.latents is None else Latents(*(t.to(device) for t in self.latents))
        return Batch(*moved, latents)


class Batches(Protocol):
    vocabulary: Vocabulary
    labels: list[str]  # the class names, by class id

    def next_batch(self) -> Batch: ...
    def skip(self, batches: int) -> None: ...
    def held_out(self, batches: int) -> list[Batch]: ...
    def code_targets(self, targets: Tensor) -> Tensor | None: ...
    def unigram_bits(self) -> float | None: ...
    def state_dict(self) -> dict[str, int]: ...
    def load_state_dict(self, state: dict[str, int]) -> None: ...
    def check_vocabulary(self, saved: Vocabulary) -> None: ...
    def describe(self) -> str: ...


def open_batches(data: NTPData, block: int, batch: int, accumulate: int, seed: int) -> Batches:
    """The batches ``data`` names, ``batch`` sequences of ``block`` ids each."""
    if data.kind == "text":
        return TextWindows(data, block, batch, accumulate, seed)
    if data.kind == "tokens":
        return TokenSequences(data, block, batch, seed)
    raise DataConfigError(f"data.kind must be text or tokens, got {data.kind!r}")


def entropy_bits(counts: np.ndarray) -> float:
    """The entropy in bits of the distribution that ``counts`` (of each value) describe."""
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def same_vocabulary(saved: Vocabulary, needed: Vocabulary) -> None:
    if saved.fingerprint != needed.fingerprint:
        raise VocabularyMismatchError(
            f"the checkpoint's vocabulary ({saved.fingerprint}) is not the one this data needs "
            f"({needed.fingerprint}): {saved.differences(needed)}"
        )


class TextWindows:
    """nanoGPT's batches: random windows of a corpus, drawn from (seed, step, micro-batch)."""

    def __init__(self, data: NTPData, block: int, batch: int, accumulate: int, seed: int) -> None:
        text, self.train_ids, self.val_ids = load_corpus(data.text, data.vocab, data.val_fraction)
        self.vocabulary = Vocabulary(text=text, specials=(), coordinate_bins=0)
        self.labels: list[str] = []
        self.block, self.batch, self.accumulate, self.seed = block, batch, accumulate, seed
        self.position = 0

    def next_batch(self) -> Batch:
        step, micro = divmod(self.position, self.accumulate)
        x, y = windows(
            self.train_ids, self.block, self.batch, np.random.default_rng([self.seed, step, micro])
        )
        self.position += 1
        return Batch(torch.from_numpy(x), torch.from_numpy(y), None)

    def skip(self, batches: int) -> None:
        """Move past ``batches`` batches (another rank's) without drawing them."""
        self.position += batches

    def held_out(self, batches: int) -> list[Batch]:
        rng = np.random.default_rng([self.seed, 2**31])
        drawn = (windows(self.val_ids, self.block, self.batch, rng) for _ in range(batches))
        return [Batch(torch.from_numpy(x), torch.from_numpy(y), None) for x, y in drawn]

    def code_targets(self, targets: Tensor) -> None:
        """Every target of a corpus is a text id: held-out bits per token already are per code."""
        return None

    def unigram_bits(self) -> float:
        return entropy_bits(np.bincount(self.train_ids))

    def state_dict(self) -> dict[str, int]:
        return {"position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.position = int(state["position"])

    def check_vocabulary(self, saved: Vocabulary) -> None:
        same_vocabulary(saved, self.vocabulary)

    def describe(self) -> str:
        return f"{len(self.train_ids)} training ids"


class TokenSequences:
    """Sequences of one format from a token dataset (the module's doc)."""

    def __init__(self, data: NTPData, block: int, batch: int, seed: int) -> None:
        if data.format not in FORMATS:
            raise DataConfigError(f"data.format must be one of {', '.join(FORMATS)}, got {data.format!r}")
        if not 0 <= data.cfg_dropout < 1:
            raise DataConfigError(f"data.cfg_dropout must be in [0, 1), got {data.cfg_dropout}")
        if data.audio_layout not in AUDIO_LAYOUTS:
            raise DataConfigError(f"data.audio_layout must be one of {', '.join(AUDIO_LAYOUTS)}")
        if data.vocab == "chars":
            raise DataConfigError(
                "data.vocab chars takes a corpus's characters; for tokens use bytes or a .json"
            )
        self.dataset = TokenDataset(data.path)
        self.manifest = self.dataset.manifest
        self.labels = self.dataset.labels
        self.format, self.cfg_dropout = data.format, data.cfg_dropout
        self.block, self.batch, self.seed = block, batch, seed
        self._check_fits(data, self.dataset, data.path)
        self.val_dataset = self.dataset
        if data.val_path:
            self.val_dataset = TokenDataset(data.val_path)
            self._check_fits(data, self.val_dataset, data.val_path)
            self._check_held_out(data)
        self.continuous = self.manifest["tokenizer"]["info"]["kind"] == "continuous"
        if self.continuous and data.codebooks > 1:
            raise DataConfigError(f"data.codebooks is for discrete codes; {data.path} holds latents")
        self.codebooks = 1 if self.continuous else data.codebooks or self._dataset_codebooks()
        codes = MediaCodes.from_manifest(self.manifest, self.codebooks, data.audio_layout)
        self.vocabulary = Vocabulary(
            text=text_vocabulary(data.vocab),
            resolutions=self._grids() if codes.modality == "image" else (),
            num_classes=len(self.dataset.labels),
            tasks=tuple(data.tasks),
            coordinate_bins=data.coordinate_bins,
            media=(codes,),
        )
        if data.val_path:
            self.val_items, self.train_items = np.arange(len(self.val_dataset)), np.arange(len(self.dataset))
        else:
            order = np.random.default_rng([seed, 0x5EED]).permutation(len(self.dataset))
            held = math.ceil(len(order) * data.val_fraction) if data.val_fraction > 0 else 0
            if not 0 < held < len(order):
                raise DataConfigError(
                    f"data.val_fraction {data.val_fraction} of {len(order)} items leaves no training or "
                    "no held-out items"
                )
            self.val_items, self.train_items = np.sort(order[:held]), np.sort(order[held:])
        self.val_path = data.val_path
        self.position = 0
        self._epoch_order: tuple[int, np.ndarray] | None = None

    def _grids(self) -> tuple[tuple[int, int], ...]:
        """Every image grid size in the datasets (from the indexes: no tokens read)."""
        shapes = np.concatenate(
            [
                dataset.index(s)["shape"][:, :2]
                for dataset in {id(d): d for d in (self.dataset, self.val_dataset)}.values()
                for s in range(len(dataset.shards))
            ]
        )
        return tuple((int(h), int(w)) for h, w in np.unique(shapes, axis=0))

    def _check_fits(self, data: NTPData, dataset: TokenDataset, path: str) -> None:
        manifest = dataset.manifest
        tok = manifest["tokenizer"]
        modality, needs = NEEDS[data.format]
        if modality is not None and tok["info"]["modality"] != modality:
            raise DataConfigError(
                f"data.format {data.format} takes {modality} tokens; {path} holds "
                f"{tok['info']['modality']} tokens of {tok['name']}"
            )
        if needs == "labels" and not dataset.labels:
            raise DataConfigError(f"{path} has no labels, which {data.format} needs (tokenize with --labels)")
        if needs == "captions" and not manifest["settings"].get("captions"):
            raise DataConfigError(f"{path} has no captions, which {data.format} needs (--captions)")
        if tok["info"].get("scales"):
            raise DataConfigError(f"{tok['name']} gives multi-scale (VAR) ids, which have no row format yet")
        written, planned = len(manifest["shards"]), manifest["num_shards"]
        if written != planned:
            raise DataConfigError(
                f"{path} is not complete ({written} of {planned} shards): "
                "rerun its tzoo tokenize-dataset to finish it"
            )
        if not len(dataset):
            raise DataConfigError(f"{path} holds no items")

    def _check_held_out(self, data: NTPData) -> None:
        """``data.val_path`` must hold what ``data.path`` holds: the same tokenizer's ids (name,
        weights, options) and the same class names, so one vocabulary reads both."""
        ours, theirs = self.manifest["tokenizer"], self.val_dataset.manifest["tokenizer"]
        for key in ("name", "weights_sha256", "options"):
            if ours.get(key) != theirs.get(key):
                raise DataConfigError(
                    f"data.val_path {data.val_path} was tokenized with another {key} than data.path "
                    f"{data.path} ({theirs.get(key)!r}, not {ours.get(key)!r})"
                )
        if self.val_dataset.labels != self.dataset.labels:
            raise DataConfigError(
                f"data.val_path {data.val_path} has the classes {self.val_dataset.labels}, data.path "
                f"{data.path} {self.dataset.labels}: tokenize both with the same classes"
            )

    def _dataset_codebooks(self) -> int:
        data = self.dataset[0].data
        if self.manifest["tokenizer"]["info"]["modality"] == "audio":
            return data.shape[0]
        return data.shape[-1] if data.ndim == 3 else 1

    def example(self, sample: Sample, unconditional: bool) -> Example:
        """The training sequence of one item."""
        v, codes = self.vocabulary, sample.data
        if self.continuous:
            codes = np.asarray(codes, dtype=np.float32)
        elif v.media[0].modality == "audio":
            codes = codes[: self.codebooks]
        elif codes.ndim == 3:
            codes = codes[..., : self.codebooks]
        if self.format == "class_conditional":
            if sample.label < 0:
                raise DataConfigError(f"{sample.source} has no label, which class_conditional needs")
            return sequence.class_conditional(v, sample.label, codes, unconditional)
        if self.format == "caption_conditional":
            return sequence.caption_conditional(v, sample.caption, codes, unconditional)
        if self.format == "text_only":
            return sequence.text_only(v, sample.caption)
        if self.format == "interleaved":
            parts = [sample.caption] if sample.caption else []
            return sequence.interleaved(v, [*parts, Media(v.media[0].modality, codes)])
        return sequence.speech_continuation(v, codes[:, : self._frames_that_fit()])

    def _frames_that_fit(self) -> int:
        """How many frames of a recording fit a speech sequence of ``block + 1`` ids (``<bos>
        <boa>`` ... ``<eoa> <eos>``; the delay layout's ``K - 1`` late steps): a longer
        recording trains on its beginning, as continuation does."""
        media = self.vocabulary.codes("audio")
        late = media.num_codebooks - 1 if media.audio_layout == "delay" else 0
        return max(1, (self.block + 1 - 4) // media.num_codebooks - late)

    def _collate(self, examples: list[Example], sources: list[str]) -> Batch:
        length = self.block + 1
        ids = np.full((len(examples), length), self.vocabulary["<pad>"], dtype=np.int64)
        mask = np.zeros((len(examples), length), dtype=bool)
        dim = self.vocabulary.media[0].latent_dim
        values = np.zeros((len(examples), length, dim), dtype=np.float32) if self.continuous else None
        placeholder = self.vocabulary.latent_tokens()[0] if self.continuous else -1
        for row, (example, source) in enumerate(zip(examples, sources, strict=True)):
            if len(example.ids) > length:
                raise DataConfigError(
                    f"{source} is a sequence of {len(example.ids)} ids; "
                    f"model.block_size must be at least {len(example.ids) - 1}"
                )
            ids[row, : len(example.ids)] = example.ids
            mask[row, : len(example.ids)] = example.loss_mask
            if values is not None and example.latents is not None:
                values[row, : len(example.ids)][example.ids == self.vocabulary.latent_tokens()[0]] = (
                    example.latents
                )
        tensor = torch.from_numpy(ids)
        latents = None
        if values is not None:
            latents = Latents(torch.from_numpy(values), tensor == placeholder)
        return Batch(tensor[:, :-1], tensor[:, 1:], torch.from_numpy(mask[:, 1:]), latents)

    def _train_item(self, index: int) -> tuple[int, bool]:
        """The item at position ``index`` of the endless training stream, and whether its
        condition is dropped."""
        epoch, position = divmod(index, len(self.train_items))
        if self._epoch_order is None or self._epoch_order[0] != epoch:
            self._epoch_order = (
                epoch,
                np.random.default_rng([self.seed, epoch]).permutation(len(self.train_items)),
            )
        item = int(self.train_items[self._epoch_order[1][position]])
        dropped = bool(np.random.default_rng([self.seed, epoch, position, 1]).random() < self.cfg_dropout)
        return item, dropped

    def next_batch(self) -> Batch:
        chosen = [self._train_item(self.position + j) for j in range(self.batch)]
        self.position += self.batch
        samples = [(self.dataset[item], dropped) for item, dropped in chosen]
        examples = [self.example(sample, dropped) for sample, dropped in samples]
        return self._collate(examples, [sample.source for sample, _ in samples])

    def skip(self, batches: int) -> None:
        """Move past ``batches`` batches (another rank's) without reading them."""
        self.position += batches * self.batch

    def held_out(self, batches: int) -> list[Batch]:
        samples = [self.val_dataset[int(i)] for i in self.val_items[: batches * self.batch]]
        chunks = [samples[i : i + self.batch] for i in range(0, len(samples), self.batch)]
        return [
            self._collate([self.example(s, False) for s in chunk], [s.source for s in chunk])
            for chunk in chunks
        ]

    def _code_ranges(self) -> list[range]:
        return [
            self.vocabulary.code_range(m.modality, k)
            for m in self.vocabulary.media
            for k in range(m.num_codebooks)
        ]

    def code_targets(self, targets: Tensor) -> Tensor | None:
        """Which targets are media codes (not ``<eol>``, ``<eoi>``, ``<eos>``, which the loss
        also counts): the held-out loss on these alone is what compares with the codes'
        unigram entropy. None for latents, whose loss is not in bits."""
        if self.continuous:
            return None
        ranges = self._code_ranges()
        return (targets >= min(r.start for r in ranges)) & (targets < max(r.stop for r in ranges))

    def unigram_bits(self) -> float | None:
        """The entropy (bits) of the codes the training sequences score, per codebook and
        weighed by its share of them: what a model that knew each code's frequency in its
        codebook, and nothing else, would pay per code. None for latents."""
        if self.continuous:
            return None
        ids = np.concatenate([self.example(self.dataset[int(i)], False).ids for i in self.train_items])
        counts = [np.bincount(ids[(ids >= r.start) & (ids < r.stop)] - r.start) for r in self._code_ranges()]
        total = sum(int(c.sum()) for c in counts)
        return sum(int(c.sum()) / total * entropy_bits(c) for c in counts if c.sum())

    def state_dict(self) -> dict[str, int]:
        return {"position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.position = int(state["position"])

    def check_vocabulary(self, saved: Vocabulary) -> None:
        saved.check_dataset(self.manifest, self.codebooks)
        same_vocabulary(saved, self.vocabulary)

    def describe(self) -> str:
        tok = self.manifest["tokenizer"]["name"]
        held = f" (from {self.val_path})" if self.val_path else ""
        counts = f"{len(self.train_items)} training and {len(self.val_items)} held-out items{held}"
        return f"{counts} of {tok} ({self.format})"
