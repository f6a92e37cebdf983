"""The on-disk format of a token dataset: memory-mappable shards and one manifest.

    OUT/
      manifest.json         tokenizer (name, checkpoint hash, training step, vocabulary and
                            token layout), zoo version, settings, label names, and every
                            finished shard with its counts and files' SHA-256
      errors.jsonl          every input that failed: {"path", "kind", "reason"}
      shard-00000/
        ids.bin             all items' ids back to back, uint32 little-endian
                            (latents.bin, float16 or float32, for continuous tokenizers)
        index.npy           one row per item (a structured array, columnar in spirit):
                            offset and length in elements, token shape, label, media size,
                            sample rate, duration, source path, caption, per-item extras
        errors.jsonl        this shard's failed inputs
      dataset.lock          held while a run writes (flock)

Shard ``k`` holds inputs ``k * shard_size`` to ``(k + 1) * shard_size - 1`` of the sorted
input list, failed ones left out: which shard an input lands in depends only on the list,
so a resumed run writes the same bytes as one that never stopped. A shard is written to
``shard-NNNNN.tmp/`` and renamed when whole; the manifest (rewritten atomically after
each shard) lists only renamed ones.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tokenizers_zoo import durable
from tokenizers_zoo.datasets.items import Encoded, Failure
from tokenizers_zoo.errors import TokenizersZooError

FORMAT = "tzoo-token-dataset"
FORMAT_VERSION = 1
MANIFEST, ERRORS, INDEX, LOCK = "manifest.json", "errors.jsonl", "index.npy", "dataset.lock"
MAX_DIMS = 4
TOKEN_DTYPES = {
    "discrete": ("ids.bin", "<u4"),
    "float32": ("latents.bin", "<f4"),
    "float16": ("latents.bin", "<f2"),
}


class DatasetFormatError(TokenizersZooError, ValueError):
    """A folder that is not a token dataset, or one whose files do not match its manifest."""


def shard_name(number: int) -> str:
    return f"shard-{number:05d}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def index_dtype(source_chars: int, caption_chars: int, extras_chars: int) -> np.dtype:
    return np.dtype(
        [
            ("offset", "<i8"),
            ("length", "<i8"),
            ("ndim", "<i8"),
            ("shape", "<i8", (MAX_DIMS,)),
            ("label", "<i8"),
            ("media_ndim", "<i8"),
            ("media_size", "<i8", (3,)),
            ("sample_rate", "<i8"),
            ("duration", "<f8"),
            ("source", f"<U{max(1, source_chars)}"),
            ("caption", f"<U{max(1, caption_chars)}"),
            ("extras", f"<U{max(1, extras_chars)}"),
        ]
    )


class ShardWriter:
    """Writes one shard as its results arrive (the tokens go straight to the file, so memory
    holds only the index rows), under a temporary name; ``finish`` renames it in and returns
    its manifest entry. Results come in input order, failures included."""

    def __init__(self, directory: Path, number: int, token_dtype: str) -> None:
        self.data_file, self.dtype = TOKEN_DTYPES[token_dtype]
        self.directory, self.final = directory, directory / shard_name(number)
        self.tmp = self.final.with_name(self.final.name + durable.TMP)
        durable.remove(self.tmp)
        self.tmp.mkdir()
        self.file = open(self.tmp / self.data_file, "wb")  # noqa: SIM115  # closed by finish
        self.rows: list[tuple] = []
        self.failures: list[Failure] = []
        self.inputs = self.offset = self.tokens = 0

    def add(self, result: Encoded | Failure) -> None:
        self.inputs += 1
        if isinstance(result, Failure):
            self.failures.append(result)
            return
        data, size = result.data, result.original_size
        if data.ndim > MAX_DIMS or len(size) > 3:
            raise DatasetFormatError(f"token shape {data.shape} has more than {MAX_DIMS} axes")
        self.file.write(np.ascontiguousarray(data, dtype=self.dtype).tobytes())
        extras = json.dumps(result.extras, sort_keys=True) if result.extras else ""
        self.rows.append(
            (
                self.offset,
                data.size,
                data.ndim,
                [*data.shape] + [0] * (MAX_DIMS - data.ndim),
                result.item.label,
                len(size),
                [*size] + [0] * (3 - len(size)),
                result.sample_rate or 0,
                result.duration,
                result.item.source,
                result.item.caption,
                extras,
            )
        )
        self.offset += data.size
        self.tokens += data.size if self.dtype == "<u4" else data.size // data.shape[-1]

    def finish(self) -> dict[str, Any]:
        self.file.close()
        widths = [max((len(row[k]) for row in self.rows), default=1) for k in (9, 10, 11)]
        index = np.zeros(len(self.rows), index_dtype(*widths))
        for i, row in enumerate(self.rows):
            index[i] = row
        np.save(self.tmp / INDEX, index, allow_pickle=False)
        (self.tmp / ERRORS).write_text("".join(failure.to_json() + "\n" for failure in self.failures))
        for file in self.tmp.iterdir():
            durable.fsync(file)
        durable.fsync(self.tmp)
        durable.remove(self.final)
        self.tmp.rename(self.final)
        durable.fsync(self.directory)
        return {
            "name": self.final.name,
            "inputs": self.inputs,
            "items": len(self.rows),
            "errors": len(self.failures),
            "elements": self.offset,
            "tokens": self.tokens,
            "bytes": self.offset * np.dtype(self.dtype).itemsize,
            "files": {file.name: sha256_of(file) for file in sorted(self.final.iterdir())},
        }


def read_manifest(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetFormatError(f"{directory} is not a token dataset: it has no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        raise DatasetFormatError(f"cannot read {path}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DatasetFormatError(f"{path} is not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DatasetFormatError(
            f"{path} is format version {manifest.get('format_version')}; this zoo reads {FORMAT_VERSION}"
        )
    return manifest


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    durable.write_text(directory / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def write_errors(directory: Path, shards: list[dict[str, Any]]) -> None:
    """``errors.jsonl``: the finished shards' failures, in input order."""
    text = "".join((directory / s["name"] / ERRORS).read_text() for s in shards)
    durable.write_text(directory / ERRORS, text)


@dataclass
class Sample:
    """One item of a dataset: ``data`` is a read-only view into the shard's mapped file
    (uint32 ids or float latents, the token layout without a batch axis)."""

    data: np.ndarray
    kind: str
    tokenizer: str
    source: str
    label: int
    caption: str
    original_size: tuple[int, ...]
    sample_rate: int | None
    duration: float
    extras: dict[str, Any]
    #: the tokenizer's encode options (a codec's bandwidth), as ``Tokens.extras`` holds them
    options: dict[str, Any] | None = None

    @property
    def ids(self) -> np.ndarray | None:
        return self.data if self.kind == "discrete" else None

    @property
    def latents(self) -> np.ndarray | None:
        return self.data if self.kind == "continuous" else None

    def tokens(self) -> Any:
        """A ``Tokens`` batch of one (int64 ids or float32 latents), as ``tok.encode``
        gives, ready for ``tok.decode``."""
        import torch

        from tokenizers_zoo.tokens import Tokens

        data = torch.from_numpy(
            np.array(self.data, dtype=np.int64 if self.kind == "discrete" else np.float32)
        )
        extras = dict(self.options or {})
        if "per_item" in self.extras:
            extras["per_item"] = [self.extras["per_item"]]
        if "fps" in self.extras:  # a video's own rate
            extras["fps"] = self.extras["fps"]
        return Tokens(
            self.tokenizer,
            self.original_size,
            ids=data[None] if self.kind == "discrete" else None,
            latents=data[None] if self.kind == "continuous" else None,
            sample_rate=self.sample_rate,
            extras=extras,
        )


class TokenDataset:
    """Random access to the items of a token dataset: ``dataset[i]`` reads only the
    item's own rows of its shard's ``ids.bin`` (``np.memmap``), found in O(log shards)
    from the shards' item counts; nothing is loaded up front beyond the indexes."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        self.kind = self.manifest["tokenizer"]["info"]["kind"]
        self.data_file, self.dtype = TOKEN_DTYPES[self.manifest["token_dtype"]]
        self.shards = [s for s in self.manifest["shards"] if s["items"]]
        self.starts = np.cumsum([0] + [s["items"] for s in self.shards]).tolist()
        self._indexes: dict[int, np.ndarray] = {}
        self._maps: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.starts[-1]

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.get("labels") or [])

    def index(self, shard: int) -> np.ndarray:
        if shard not in self._indexes:
            path = self.directory / self.shards[shard]["name"] / INDEX
            self._indexes[shard] = np.load(path, allow_pickle=False)
        return self._indexes[shard]

    def tokens_file(self, shard: int) -> np.ndarray:
        if shard not in self._maps:
            path = self.directory / self.shards[shard]["name"] / self.data_file
            self._maps[shard] = np.memmap(path, dtype=self.dtype, mode="r")
        return self._maps[shard]

    def __getitem__(self, i: int) -> Sample:
        if not -len(self) <= i < len(self):
            raise IndexError(f"item {i} of a dataset of {len(self)}")
        i %= len(self)
        shard = bisect.bisect_right(self.starts, i) - 1
        row = self.index(shard)[i - self.starts[shard]]
        flat = self.tokens_file(shard)[row["offset"] : row["offset"] + row["length"]]
        size = tuple(int(s) for s in row["media_size"][: row["media_ndim"]])
        return Sample(
            data=flat.reshape(tuple(int(s) for s in row["shape"][: row["ndim"]])),
            kind=self.kind,
            tokenizer=self.manifest["tokenizer"]["name"],
            source=str(row["source"]),
            label=int(row["label"]),
            caption=str(row["caption"]),
            original_size=size,
            sample_rate=int(row["sample_rate"]) or None,
            duration=float(row["duration"]),
            extras=json.loads(str(row["extras"])) if str(row["extras"]) else {},
            options=self.manifest["tokenizer"].get("options") or {},
        )

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def dataset_info(directory: str | Path) -> dict[str, Any]:
    """Counts, tokens, bytes, tokenizer and errors of a dataset, from its manifest."""
    manifest = read_manifest(directory)
    shards = manifest["shards"]
    errors: dict[str, int] = {}
    for shard in shards:
        for line in (Path(directory) / shard["name"] / ERRORS).read_text().splitlines():
            kind = json.loads(line).get("kind", "?")
            errors[kind] = errors.get(kind, 0) + 1
    tok = manifest["tokenizer"]
    return {
        "tokenizer": tok["name"],
        "weights_sha256": tok.get("weights_sha256"),
        "training_step": tok.get("training_step"),
        "kind": tok["info"]["kind"],
        "token_dtype": manifest["token_dtype"],
        "complete": len(shards) == manifest["num_shards"],
        "shards": f"{len(shards)} of {manifest['num_shards']}",
        "inputs": manifest["inputs"]["count"],
        "items": sum(s["items"] for s in shards),
        "errors": sum(s["errors"] for s in shards),
        "errors_by_kind": errors,
        "tokens": sum(s["tokens"] for s in shards),
        "elements": sum(s["elements"] for s in shards),
        "bytes": sum(s["bytes"] for s in shards),
        "labels": len(manifest.get("labels") or []),
    }


def verify_dataset(directory: str | Path) -> list[str]:
    """Every problem found: files missing or not matching their SHA-256, indexes that do not
    tile the token file, shapes that do not match lengths, ids outside the vocabulary.
    An empty list means the dataset is whole."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    data_file, dtype = TOKEN_DTYPES[manifest["token_dtype"]]
    info = manifest["tokenizer"]["info"]
    vocab = max(info["vocab_size"], default=0)
    problems = []
    for shard in manifest["shards"]:
        folder = directory / shard["name"]
        for name, digest in shard["files"].items():
            path = folder / name
            if not path.is_file():
                problems.append(f"{shard['name']}/{name}: missing")
            elif sha256_of(path) != digest:
                problems.append(f"{shard['name']}/{name}: SHA-256 does not match the manifest")
        if any(p.startswith(shard["name"]) for p in problems):
            continue
        index = np.load(folder / INDEX, allow_pickle=False)
        tokens = (
            np.memmap(folder / data_file, dtype=dtype, mode="r") if shard["tokens"] else np.zeros(0, dtype)
        )
        lengths = index["length"]
        expected_offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(index) else lengths
        shapes_ok = all(
            math.prod(int(s) for s in row["shape"][: row["ndim"]]) == row["length"] for row in index
        )
        if len(index) != shard["items"]:
            problems.append(f"{shard['name']}: {len(index)} index rows, the manifest says {shard['items']}")
        if not np.array_equal(index["offset"], expected_offsets) or int(lengths.sum()) != tokens.size:
            problems.append(f"{shard['name']}: the index does not tile {data_file} ({tokens.size} elements)")
        if not shapes_ok:
            problems.append(f"{shard['name']}: a token shape does not match its length")
        if info["kind"] == "discrete" and tokens.size and int(tokens.max()) >= vocab:
            problems.append(
                f"{shard['name']}: ids up to {int(tokens.max())}, outside the vocabulary ({vocab})"
            )
        if info["kind"] == "continuous" and tokens.size and not np.isfinite(tokens).all():
            problems.append(f"{shard['name']}: latents hold NaN or infinity")
    listed = {s["name"] for s in manifest["shards"]}
    for extra in sorted(directory.glob("shard-*")):
        if extra.name not in listed:
            problems.append(f"{extra.name}: not in the manifest (an unfinished shard; a rerun redoes it)")
    return problems
