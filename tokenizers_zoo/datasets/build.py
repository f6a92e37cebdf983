"""``tokenize_dataset``: a folder or list of media files -> a sharded token dataset.

    inputs (sorted) -> fixed shards of ``shard_size`` inputs -> batches of ``batch_size``
    -> engine: decode files, encode each batch (``items.py``), in input order
    -> ShardWriter per shard (temp name, renamed when whole) -> manifest after each shard

Two engines run the same per-batch work and feed the same writer: ``local`` decodes in
``torch.utils.data.DataLoader`` worker processes while this process encodes; ``ray``
runs decode and encode in Ray Data actors (``ray_engine.py``). Batches are fixed by the
input list, so both give the same tokens and a resumed run the same bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import math
import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tokenizers_zoo import durable
from tokenizers_zoo.datasets.items import (
    DatasetInputError,
    Encoded,
    Failure,
    Item,
    Limits,
    decode_batch,
    encode_batch,
    folder_label,
    list_inputs,
    read_mapping,
)
from tokenizers_zoo.datasets.shards import (
    FORMAT,
    FORMAT_VERSION,
    LOCK,
    MANIFEST,
    ShardWriter,
    read_manifest,
    shard_name,
    write_errors,
    write_manifest,
)
from tokenizers_zoo.errors import TokenizersZooError

ENGINES = ("local", "ray")
DEFAULT_LIMITS = Limits()


class DatasetInUseError(TokenizersZooError, RuntimeError):
    """Another run is writing into the output directory."""


@dataclass(frozen=True)
class Job:
    """What every engine needs to do the per-batch work (picklable, for worker processes)."""

    tokenizer: str
    weights: str | None
    device: str
    modality: str
    size: int
    limits: Limits
    latent_dtype: str
    options: dict[str, Any]


@dataclass
class Summary:
    output: str
    inputs: int
    items: int
    errors: int
    tokens: int
    shards_written: int
    shards_skipped: int
    seconds: float
    #: inputs handled by this run (those of skipped shards not counted)
    items_done: int = 0
    #: when the first batch came back, and its size: the engine's start (loading the
    #: tokenizer, starting decoders or Ray's actors), which a long run pays once
    first_batch_seconds: float = 0.0
    first_batch_items: int = 0

    @property
    def items_per_second(self) -> float:
        return (self.items_done / self.seconds) if self.seconds > 0 else 0.0

    @property
    def steady_items_per_second(self) -> float:
        """Throughput after the first batch: what a run of millions of inputs sees."""
        seconds = self.seconds - self.first_batch_seconds
        return (self.items_done - self.first_batch_items) / seconds if seconds > 0 else 0.0

    def line(self) -> str:
        failed = f"; {self.errors} failed (see {Path(self.output) / 'errors.jsonl'})" if self.errors else ""
        skipped = f", {self.shards_skipped} already done" if self.shards_skipped else ""
        return (
            f"{self.items} of {self.inputs} inputs tokenized, {self.tokens} tokens in "
            f"{self.shards_written + self.shards_skipped} shard(s) ({self.shards_written} written{skipped}) "
            f"in {self.seconds:.1f} s, {self.items_per_second:.1f} inputs/s{failed}"
        )


def load_tokenizer(job: Job) -> Any:
    """The job's tokenizer, in eval mode; ``encode`` runs without autograd by itself."""
    import tokenizers_zoo as tz

    return tz.load(job.tokenizer, device=job.device, weights=job.weights)


def tokenize_dataset(
    tokenizer: str,
    input: str | Path,
    output: str | Path,
    *,
    engine: str = "local",
    batch_size: int = 16,
    workers: int = 2,
    shard_size: int = 1024,
    device: str = "cpu",
    labels: str | None = None,
    captions: str | None = None,
    size: int = 256,
    latent_dtype: str = "float32",
    limits: Limits = DEFAULT_LIMITS,
    weights: str | None = None,
    progress: bool = True,
) -> Summary:
    """Tokenize every media file of ``input`` (a folder, searched recursively, or a file
    listing paths) into the dataset folder ``output``; see the package's doc for the format.
    A rerun skips the shards already written; a folder made with other settings is refused.
    Files that cannot be used go to ``errors.jsonl`` and the run goes on."""
    if engine not in ENGINES:
        raise DatasetInputError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    for name, value, low in (
        ("batch-size", batch_size, 1),
        ("shard-size", shard_size, 1),
        ("workers", workers, 0),
    ):
        if value < low:
            raise DatasetInputError(f"--{name} must be at least {low}, got {value}")
    if latent_dtype not in ("float16", "float32"):
        raise DatasetInputError(f"--latent-dtype must be float16 or float32, got {latent_dtype!r}")
    started = time.perf_counter()
    tok = load_tokenizer(Job(tokenizer, weights, device, "", size, limits, latent_dtype, {}))
    info = tok.info
    root, found = list_inputs(input, info.modality)
    if not found:
        raise DatasetInputError(f"--input {input}: no {info.modality} files found")
    items, label_names = _items(found, labels, captions)
    job = Job(tokenizer, weights, device, info.modality, size, limits, latent_dtype, tok.resolve_options({}))
    token_dtype = "discrete" if info.kind == "discrete" else latent_dtype
    num_shards = math.ceil(len(items) / shard_size)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "zoo_version": _zoo_version(),
        "tokenizer": {
            "name": tok.name,
            "weights_sha256": checkpoint_hash(tokenizer, weights),
            "training_step": (tok.training_record or {}).get("step"),
            "info": info.to_dict(),
            "options": job.options,
        },
        "token_dtype": token_dtype,
        "settings": {
            "size": size if info.modality in ("image", "video") else None,
            "batch_size": batch_size,
            "shard_size": shard_size,
            "labels": None if labels is None else "from-folders" if labels == "from-folders" else "file",
            "captions": captions is not None,
            "limits": asdict(limits),
        },
        "inputs": {"root": root, "count": len(items), "sha256": _list_hash(items)},
        "labels": label_names,
        "num_shards": num_shards,
        "shards": [],
    }
    out = Path(output)
    try:
        with durable.locked(out, LOCK) as lock_fd:
            return _run(tok, job, engine, workers, items, manifest, out, progress, started, lock_fd)
    except durable.DirectoryInUse as exc:
        by = f" (pid {exc.holder})" if exc.holder is not None else ""
        raise DatasetInUseError(f"{out} is being written by another tokenize-dataset run{by}") from None


def _run(
    tok: Any,
    job: Job,
    engine: str,
    workers: int,
    items: list[Item],
    manifest: dict[str, Any],
    out: Path,
    progress: bool,
    started: float,
    lock_fd: int,
) -> Summary:
    done = _finished_shards(out, manifest)
    for stale in sorted(out.glob("shard-*" + durable.TMP)):
        durable.remove(stale)  # what a killed run left half-written
    manifest["shards"] = list(done.values())
    write_manifest(out, manifest)
    shard_size, batch_size = manifest["settings"]["shard_size"], manifest["settings"]["batch_size"]
    plan: list[tuple[int, list[Item]]] = []
    for number in range(manifest["num_shards"]):
        if number not in done:
            inputs = items[number * shard_size : (number + 1) * shard_size]
            plan += [(number, inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)]
    if engine == "ray":
        from tokenizers_zoo.datasets.ray_engine import ray_batches

        results = ray_batches(job, plan, workers)
    else:
        results = local_batches(tok, job, plan, workers, lock_fd)
    from tqdm import tqdm

    todo = sum(len(batch) for _, batch in plan)
    bar = tqdm(total=todo, unit="item", file=sys.stderr, disable=not progress, smoothing=0.1)
    remaining = {n: sum(1 for m, _ in plan if m == n) for n, _ in plan}
    writer: ShardWriter | None = None
    written, first_batch_seconds, first_batch_items = 0, 0.0, 0
    try:
        for number, batch in results:
            if not first_batch_items:
                first_batch_seconds, first_batch_items = time.perf_counter() - started, len(batch)
            if writer is None:
                writer = ShardWriter(out, number, manifest["token_dtype"])
            for result in batch:
                writer.add(result)
            bar.update(len(batch))
            remaining[number] -= 1
            if remaining[number] == 0:
                done[number] = writer.finish()
                writer = None
                written += 1
                manifest["shards"] = [done[n] for n in sorted(done)]
                write_errors(out, manifest["shards"])
                write_manifest(out, manifest)
    finally:
        bar.close()
        if hasattr(results, "close"):
            results.close()
    shards = manifest["shards"]
    return Summary(
        output=str(out),
        inputs=len(items),
        items=sum(s["items"] for s in shards),
        errors=sum(s["errors"] for s in shards),
        tokens=sum(s["tokens"] for s in shards),
        shards_written=written,
        shards_skipped=len(shards) - written,
        seconds=time.perf_counter() - started,
        items_done=todo,
        first_batch_seconds=first_batch_seconds,
        first_batch_items=first_batch_items,
    )


def local_batches(
    tok: Any, job: Job, plan: list[tuple[int, list[Item]]], workers: int, lock_fd: int | None = None
) -> Iterator:
    """``(shard, results)`` per batch of ``plan``, in order: files decoded by ``workers``
    DataLoader processes (0: in this one), batches encoded here. The forked workers close
    their copy of the output's lock, which would otherwise outlive a killed run for the
    seconds they take to notice."""
    from functools import partial

    from torch.utils.data import DataLoader

    loader = DataLoader(
        _DecodeBatches(job, [batch for _, batch in plan]),
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        collate_fn=_as_is,
        prefetch_factor=2 if workers else None,
        worker_init_fn=partial(_init_worker, lock_fd),
    )
    for (number, _), decoded in zip(plan, loader, strict=True):
        yield number, encode_batch(tok, decoded, job.options, job.latent_dtype)


class _DecodeBatches:
    """A map-style dataset whose item ``b`` is batch ``b`` decoded."""

    def __init__(self, job: Job, batches: list[list[Item]]) -> None:
        self.job, self.batches = job, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, b: int) -> list:
        return decode_batch(self.batches[b], self.job.modality, self.job.size, self.job.limits)


def _as_is(batch: Any) -> Any:
    return batch


#: prctl(2) option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def _init_worker(lock_fd: int | None, _worker_id: int) -> None:
    """A decoding worker dies with the run that started it: killed with SIGKILL, the run
    would otherwise leave its workers waiting for it forever, holding their memory (Linux's
    PR_SET_PDEATHSIG; elsewhere torch's own check of the parent applies). Nor does it keep the
    output folder's lock alive after the run."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the run died before the line above took effect
        os._exit(1)
    if lock_fd is not None:
        os.close(lock_fd)


def _items(found: list[tuple[str, str]], labels: str | None, captions: str | None) -> tuple[list[Item], list]:
    """Items with their label ids and captions; label names are sorted, ids index them."""
    caption_of = read_mapping(captions, "caption") if captions else {}
    if labels is None:
        return [Item(s, p, caption=caption_of.get(s, "")) for s, p in found], []
    if labels == "from-folders":
        label_of = {s: folder_label(s) for s, _ in found}
        missing = "it is not in a subfolder of --input, which --labels from-folders needs"
    else:
        label_of = read_mapping(labels, "label")
        missing = f"no label for it in {labels}"
    names = sorted({label_of[s] for s, _ in found if label_of.get(s) is not None})
    ids = {name: i for i, name in enumerate(names)}
    items = []
    for s, p in found:
        label = label_of.get(s)
        items.append(
            Item(
                s, p, ids.get(label, -1), caption_of.get(s, ""), problem="" if label is not None else missing
            )
        )
    return items, names


def _finished_shards(out: Path, manifest: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The shards an earlier run into ``out`` finished, after checking it was made the same way."""
    if not (out / MANIFEST).exists():
        if any(out.glob("shard-*[0-9]")):
            raise DatasetInputError(f"{out} holds shards but no {MANIFEST}: use an empty --output")
        return {}
    old = read_manifest(out)
    for key, what in (("tokenizer", "tokenizer"), ("settings", "settings"), ("inputs", "input files")):
        if old.get(key) != manifest[key] or old.get("token_dtype") != manifest["token_dtype"]:
            raise DatasetInputError(
                f"{out} holds a dataset made with other {what} "
                f"({_differences(old.get(key), manifest[key])}); "
                "rerun with the same ones to resume, or choose a new --output"
            )
    return {int(s["name"].split("-")[1]): s for s in old["shards"] if (out / s["name"]).is_dir()}


def _differences(old: Any, new: Any) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
        return ", ".join(
            f"{k}: {json.dumps(old.get(k))[:60]} then, {json.dumps(new.get(k))[:60]} now" for k in keys
        )
    return "a different one"


def _list_hash(items: Iterable[Item]) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(json.dumps([item.source, item.label, item.caption]).encode() + b"\n")
    return digest.hexdigest()


def checkpoint_hash(tokenizer: str, weights: str | None) -> str | None:
    """The SHA-256 of the weights the tokenizer loads (recorded in its ``config.json``), or
    None for tokenizers without weights."""
    from tokenizers_zoo.registry import get_entry, is_checkpoint
    from tokenizers_zoo.tokenizer import CONFIG_FILE, WEIGHTS_FILE, WEIGHTS_HASH, file_sha256

    if weights is not None:
        path = Path(weights)
    elif is_checkpoint(tokenizer):
        path = Path(tokenizer)
    else:
        path = get_entry(tokenizer).weights_path()
    if path is None:
        return None
    if path.is_dir():
        config = path / CONFIG_FILE
        if config.is_file():
            recorded = json.loads(config.read_text()).get(WEIGHTS_HASH)
            if recorded:
                return recorded
        path = path / WEIGHTS_FILE
    return file_sha256(path) if path.is_file() else None


def _zoo_version() -> str:
    from tokenizers_zoo import __version__

    return __version__


__all__ = ["Job", "Summary", "tokenize_dataset", "shard_name", "Encoded", "Failure"]
