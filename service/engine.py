"""One served tokenizer: its dynamic batcher, its inference thread, and the conversions
between wire data (numpy) and the library's ``Tokens``.

Requests are checked here, before they queue (token shapes and ranges, options, output
size), so a batch holds only items that should succeed; the batcher still reruns a
failed batch item by item in case one slips through.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from tokenizers_zoo.errors import InvalidTokensError, MediaTooLargeError
from tokenizers_zoo.info import MemoryCost
from tokenizers_zoo.media.files import Media, MediaLimits, media_arrays
from tokenizers_zoo.service.batching import DynamicBatcher, QueueFullError
from tokenizers_zoo.service.memory import MemoryBudget
from tokenizers_zoo.service.metrics import ServiceMetrics
from tokenizers_zoo.tokenizer import Tokenizer
from tokenizers_zoo.tokens import Tokens
from tokenizers_zoo.wire import EncodedTokens

ENCODE, DECODE = "encode", "decode"


class ServedTokenizer:
    def __init__(
        self,
        tokenizer: Tokenizer,
        metrics: ServiceMetrics,
        limits: MediaLimits,
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int,
        budget: MemoryBudget | None = None,
        cost: MemoryCost | None = None,
        timeout_s: float = 0.0,
    ) -> None:
        self.tokenizer = tokenizer
        self.name = tokenizer.name
        self.info = tokenizer.info
        self.limits = limits
        self.budget = budget
        self.cost = cost
        self.timeout_s = timeout_s
        #: The fastest pace seen per op (seconds per pixel or per second of audio), for
        #: refusing work that cannot finish within the timeout.
        self._seconds_per_unit: dict[str, float] = {}
        self._metrics = metrics
        # One thread per tokenizer: batches of one model run one after another, and torch
        # spreads each over the cores itself.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"tzoo-{self.name}")
        self._batcher = DynamicBatcher(
            self._run,
            self._executor,
            max_batch_size=max_batch_size,
            max_wait_s=max_wait_ms / 1000,
            max_queue=max_queue,
            on_batch=self._observe,
        )
        metrics.queue_depth.labels(self.name).set_function(lambda: self._batcher.depth)

    def start(self) -> None:
        self._batcher.start()

    async def close(self) -> None:
        await self._batcher.close()
        self._executor.shutdown(wait=True)

    # -- requests ----------------------------------------------------------------------
    def options_from_query(self, query: Mapping[str, str]) -> dict[str, Any]:
        """The tokenizer's own encode options among the query parameters (JSON values, else
        strings): ``?bandwidth=6`` -> ``{"bandwidth": 6}``. Other parameters are not its."""
        options: dict[str, Any] = {}
        for name in self.tokenizer.options:
            if name in query:
                try:
                    options[name] = json.loads(query[name])
                except ValueError:
                    options[name] = query[name]
        return options

    async def encode(self, media: Media, options: Mapping[str, Any]) -> EncodedTokens:
        key = (ENCODE, media.array.shape, media.array.dtype.str, media.sample_rate, _frozen(options))
        what = f"encoding this {self.info.modality}"
        units = self._units(ENCODE, media)
        self._check_time(ENCODE, units, what)
        async with self._memory(ENCODE, units, what):
            return await self._submit(key, media)

    async def decode(self, tokens: EncodedTokens) -> np.ndarray:
        """One item's media: uint8 ``(H, W, 3)`` pixels or float32 ``(C, T)`` samples."""
        checked = self.check_tokens(tokens)
        key = (
            DECODE,
            checked.shape,
            str(checked.data.dtype),
            checked.original_size,
            checked.sample_rate,
            _frozen(checked.extras),
        )
        units = self._units(DECODE, checked)
        self._check_time(DECODE, units, "decoding these tokens")
        async with self._memory(DECODE, units, "decoding these tokens"):
            return await self._submit(key, checked)

    def _units(self, op: str, item: Media | Tokens) -> float:
        """How much work one item is: pixels of the image (of every frame of a video), or
        seconds of the audio."""
        if op == ENCODE:
            array, rate = item.array, item.sample_rate  # type: ignore[union-attr]
            if self.info.modality == "audio":
                return array.shape[-1] / (rate or 1)
            return math.prod(array.shape[:3] if self.info.modality == "video" else array.shape[:2])
        size = item.original_size  # type: ignore[union-attr]
        if self.info.modality == "audio":
            return size[0] / (item.sample_rate or self.info.sample_rate or 16000)  # type: ignore[union-attr]
        return math.prod(size)

    def _check_time(self, op: str, units: float, what: str) -> None:
        """Refuse work that would run past the request timeout even at the fastest pace this
        tokenizer has shown, rather than start it and leave the model busy after the caller
        has been told it timed out."""
        fastest = self._seconds_per_unit.get(op)
        if not self.timeout_s or fastest is None or fastest * units <= self.timeout_s:
            return
        raise MediaTooLargeError(
            f"{what} would take at least {fastest * units:.0f} s here (at the fastest rate seen so far), "
            f"over the request timeout of {self.timeout_s:g} s (--timeout, TZOO_REQUEST_TIMEOUT_S)"
        )

    def _memory(self, op: str, units: float, what: str) -> Any:
        """The budget reservation one request of ``units`` pixels or seconds holds while it
        queues and runs (none without a budget or a recorded cost)."""
        if self.budget is None or self.cost is None:
            return contextlib.nullcontext()
        return self.budget.reserve(math.ceil(self.cost.bytes(op, units)), what)

    async def _submit(self, key: Hashable, item: Any) -> Any:
        try:
            return await self._batcher.submit(key, item)
        except QueueFullError:
            self._metrics.rejected.labels(self.name, "queue_full").inc()
            raise

    def check_tokens(self, tokens: EncodedTokens) -> Tokens:
        """Wire tokens -> ``Tokens`` of one item this tokenizer can decode into media within
        the limits, or ``InvalidTokensError`` / ``MediaTooLargeError`` saying why not."""
        if not tokens.data.ndim or tokens.data.shape[0] != 1:
            raise InvalidTokensError(
                f"decode takes one item with a batch axis of 1, got shape {tokens.shape}; "
                "decode several items in several requests (they are batched together)"
            )
        checked = self.tokenizer.tokens_from(tokens)
        self._check_output_size(checked)
        self.tokenizer.validate(checked)
        return checked

    def _check_output_size(self, tokens: Tokens) -> None:
        size = tokens.original_size
        if self.info.modality == "audio":
            # Tokens without a rate are measured at 48 kHz, the highest rate in common use.
            rate = tokens.sample_rate or self.info.sample_rate or 48_000
            if size and size[0] > self.limits.max_audio_seconds * rate:
                raise MediaTooLargeError(f"decoded audio would be over {self.limits.max_audio_seconds:g} s")
        elif len(size) >= 2 and math.prod(size[-2:]) > self.limits.max_pixels:
            raise MediaTooLargeError(f"decoded images would be over {self.limits.max_pixels} pixels")
        elif len(size) == 3 and size[0] > self.limits.max_frames:
            raise MediaTooLargeError(f"decoded video would be over {self.limits.max_frames} frames")
        elif len(size) == 3 and math.prod(size) > self.limits.max_video_pixels:
            raise MediaTooLargeError(
                f"decoded video would be over {self.limits.max_video_pixels} pixels in all its frames"
            )

    # -- batches (on the inference thread) ---------------------------------------------
    def _run(self, key: Hashable, items: Sequence[Any]) -> list[Any]:
        op = key[0]  # type: ignore[index]
        started = time.perf_counter()
        if op == ENCODE:
            options = {name: json.loads(value) for name, value in key[-1]}  # type: ignore[index]
            results = self._encode_batch(items, options)
        else:
            results = self._decode_batch(items)
        units = sum(self._units(op, item) for item in items)
        if units > 0:
            pace = (time.perf_counter() - started) / units
            self._seconds_per_unit[op] = min(pace, self._seconds_per_unit.get(op, math.inf))
        return results

    def _encode_batch(self, items: Sequence[Media], options: dict[str, Any]) -> list[EncodedTokens]:
        if self.info.modality == "audio":
            batch: Any = np.stack([m.array for m in items])
        else:
            batch = [m.array for m in items]
        return self.tokenizer.encode(batch, sample_rate=items[0].sample_rate, **options).encoded_items()

    def _decode_batch(self, items: Sequence[Tokens]) -> list[np.ndarray]:
        batch = Tokens.concat(items)
        return media_arrays(self.info.modality, self.tokenizer.decode(batch))

    def _observe(self, key: Hashable, size: int, seconds: float) -> None:
        op = key[0]  # type: ignore[index]
        self._metrics.batch_size.labels(self.name, op).observe(size)
        self._metrics.batch_seconds.labels(self.name, op).observe(seconds)


def _frozen(options: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Options as a hashable batch key (values by their JSON, so 6 and 6.0 differ)."""
    return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in options.items()))
