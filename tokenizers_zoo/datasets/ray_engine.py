"""The Ray engine: the per-batch work of ``items.py`` in Ray Data actors.

A dataset of batches (one row per batch: its number and its items as JSON) goes through
``map_batches`` with ``BatchTokenizer``, a callable class, so each actor loads the
tokenizer once and then decodes and encodes batch after batch; ``workers`` actors run at
once (``compute=ActorPoolStrategy(size=workers)``, what Ray < 2.51 called ``concurrency=``),
each with one CPU, or one GPU with ``--device cuda``. Rows come back in
order (``preserve_order``), one per input, and the driver writes the shards with the
same writer as the local engine.

``ray.init()`` joins the cluster ``RAY_ADDRESS`` names (``ray start --head`` prints it),
else starts one on this machine; a process that already called ``ray.init`` keeps its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from tokenizers_zoo.datasets.build import Job, load_tokenizer
from tokenizers_zoo.datasets.items import Encoded, Failure, Item, decode_batch, encode_batch
from tokenizers_zoo.errors import TokenizersZooError


class EngineUnavailableError(TokenizersZooError, RuntimeError):
    """An engine whose optional dependencies are not installed."""


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401  # the Data library is the [data] extra
    except ImportError:
        raise EngineUnavailableError(
            "--engine ray needs Ray Data: pip install 'tokenizers-zoo[ray]' (ray[data] and pyarrow)"
        ) from None
    return ray


class BatchTokenizer:
    """Ray Data's callable class: ``__init__`` runs once per actor, ``__call__`` per batch."""

    def __init__(self, job: Job) -> None:
        self.job, self.tok = job, load_tokenizer(job)

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, list]:
        out: dict[str, list] = {"batch": [], "meta": [], "data": []}
        for number, items in zip(rows["batch"], rows["items"], strict=True):
            batch = [Item(**fields) for fields in json.loads(items)]
            decoded = decode_batch(batch, self.job.modality, self.job.size, self.job.limits)
            for result in encode_batch(self.tok, decoded, self.job.options, self.job.latent_dtype):
                out["batch"].append(int(number))
                meta, data = to_row(result)
                out["meta"].append(meta)
                out["data"].append(data)
        return out


def to_row(result: Encoded | Failure) -> tuple[str, bytes]:
    """One result as Arrow-friendly columns: JSON metadata and the tokens' raw bytes."""
    item = result.item.__dict__
    if isinstance(result, Failure):
        return json.dumps({"item": item, "kind": result.kind, "reason": result.reason}), b""
    meta = {
        "item": item,
        "dtype": result.data.dtype.str,
        "shape": list(result.data.shape),
        "original_size": list(result.original_size),
        "sample_rate": result.sample_rate,
        "duration": result.duration,
        "extras": result.extras,
    }
    return json.dumps(meta), np.ascontiguousarray(result.data).tobytes()


def from_row(meta_json: str, data: bytes) -> Encoded | Failure:
    meta = json.loads(meta_json)
    item = Item(**meta["item"])
    if "kind" in meta:
        return Failure(item, meta["kind"], meta["reason"])
    array = np.frombuffer(data, dtype=meta["dtype"]).reshape(meta["shape"])
    return Encoded(
        item,
        array,
        tuple(meta["original_size"]),
        meta["sample_rate"],
        float(meta["duration"]),
        meta["extras"],
    )


def ray_batches(job: Job, plan: list[tuple[int, list[Item]]], workers: int) -> Iterator:
    """``(shard, results)`` per batch of ``plan``, in order, computed by ``workers`` actors."""
    ray = _ray()
    if not plan:
        return
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), log_to_driver=False, include_dashboard=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False  # ours counts items
    rows = [
        {"batch": b, "items": json.dumps([it.__dict__ for it in items])} for b, (_, items) in enumerate(plan)
    ]
    gpu = job.device.startswith("cuda")
    dataset = ray.data.from_items(rows, override_num_blocks=min(len(rows), max(1, workers) * 4)).map_batches(
        BatchTokenizer,
        fn_constructor_kwargs={"job": job},
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=max(1, workers)),
        num_cpus=0 if gpu else 1,
        num_gpus=1 if gpu else 0,
        batch_format="numpy",
    )
    sizes = [len(items) for _, items in plan]
    current, results = 0, []
    for row in dataset.iter_rows():
        if int(row["batch"]) != current:
            raise RuntimeError(f"Ray gave batch {row['batch']} while batch {current} was incomplete")
        results.append(from_row(row["meta"], row["data"]))
        while current < len(plan) and len(results) == sizes[current]:
            yield plan[current][0], results
            current, results = current + 1, []
    if current != len(plan):
        raise RuntimeError(f"Ray gave {current} of {len(plan)} batches")
