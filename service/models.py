"""The trained NTP models one service process serves (``tzoo serve --ntp-checkpoint DIR``):
loading in the background, readiness, and running ``generate`` requests.

Each model is named after its checkpoint directory and answers one request at a time on
its own thread (a sampling loop keeps the cores busy; interleaving two would only make both
slower), behind a bounded queue (``--max-queue``; one more is a 429). A request is checked
before it queues (``ntp.generate.Generator.plan``: its fields against the model's format,
its size against the service's limits: samples per request, pixels, seconds of audio, the
memory budget and what the timeout leaves at the fastest pace seen), so the model runs only
work that can be answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tokenizers_zoo.errors import InvalidTokensError, MediaTooLargeError
from tokenizers_zoo.media.files import render_media
from tokenizers_zoo.ntp.decode import image_grid
from tokenizers_zoo.ntp.generate import Generator, Plan, Prompt, PromptError
from tokenizers_zoo.ntp.vocabulary import VocabularyMismatchError
from tokenizers_zoo.service.batching import DynamicBatcher, QueueFullError
from tokenizers_zoo.service.memory import MemoryBudget
from tokenizers_zoo.service.metrics import ServiceMetrics
from tokenizers_zoo.service.pool import READY, BackgroundPool
from tokenizers_zoo.service.problems import INVALID_PROMPT, UNKNOWN_MODEL, ProblemError
from tokenizers_zoo.service.settings import ServiceSettings, SettingsError

log = logging.getLogger("tokenizers_zoo.service")

GENERATE = "generate"
#: What a sampling step holds beside the KV cache (logits, activations), per stream, in
#: units of the model's width: a generous guess that keeps small models' requests cheap.
_STEP_WIDTHS = 64


def model_names(settings: ServiceSettings) -> dict[str, Path]:
    """Name -> checkpoint directory of every ``--ntp-checkpoint``; a missing directory or
    two of one name is an error before the service starts."""
    names: dict[str, Path] = {}
    for given in settings.ntp_checkpoints:
        path = Path(given)
        if not (path / "config.json").is_file():
            raise SettingsError(f"--ntp-checkpoint {given}: not a directory train-ntp wrote (no config.json)")
        name = path.resolve().name
        if name in names:
            raise SettingsError(f"two NTP checkpoints are named {name!r} (their directories' names)")
        names[name] = path
    return names


class ServedModel:
    def __init__(
        self,
        name: str,
        generator: Generator,
        settings: ServiceSettings,
        metrics: ServiceMetrics,
        budget: MemoryBudget | None = None,
    ) -> None:
        self.name = name
        self.generator = generator
        self.settings = settings
        self.budget = budget
        self._metrics = metrics
        #: The fastest pace seen, seconds per generated id, for refusing what cannot finish in time.
        self._seconds_per_token: float | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"tzoo-model-{name}")
        self._batcher = DynamicBatcher(
            self._run,
            self._executor,
            max_batch_size=1,
            max_wait_s=0.0,
            max_queue=settings.max_queue,
            on_batch=self._observe,
        )
        metrics.queue_depth.labels(name).set_function(lambda: self._batcher.depth)

    @property
    def modality(self) -> str:
        return self.generator.modality

    def start(self) -> None:
        self._batcher.start()

    async def close(self) -> None:
        await self._batcher.close()
        self._executor.shutdown(wait=True)

    # -- requests ------------------------------------------------------------------------
    def plan(self, prompt: Prompt) -> Plan:
        """The prompt checked against the model (422 ``invalid-prompt``) and the limits (413)."""
        s = self.settings
        if prompt.n > s.max_batch_items:
            raise MediaTooLargeError(f"n = {prompt.n} is over the limit of {s.max_batch_items} samples")
        if self.modality == "audio" and prompt.seconds > s.max_audio_seconds:
            raise MediaTooLargeError(f"{prompt.seconds:g} s of audio is over {s.max_audio_seconds:g} s")
        if self.modality == "audio" and prompt.n != 1:
            raise ProblemError(INVALID_PROMPT, "a WAV answer holds one sample: ask for n = 1")
        try:
            plan = self.generator.plan(prompt)
        except (PromptError, InvalidTokensError, VocabularyMismatchError) as exc:
            raise ProblemError(INVALID_PROMPT, str(exc)) from exc
        if plan.grid is not None:
            factor = self.generator.tokenizer.info.spatial_factor
            pixels = prompt.n * math.prod(plan.grid) * factor**2
            if pixels > s.max_pixels:
                raise MediaTooLargeError(
                    f"{prompt.n} images of {pixels // prompt.n} pixels are over {s.max_pixels}"
                )
        fastest = self._seconds_per_token
        if s.request_timeout_s and fastest is not None and fastest * plan.tokens > s.request_timeout_s:
            raise MediaTooLargeError(
                f"generating {plan.tokens} ids would take at least {fastest * plan.tokens:.0f} s here "
                f"(at the fastest rate seen so far), over the request timeout of {s.request_timeout_s:g} s"
            )
        return plan

    async def generate(self, plan: Plan, media_type: str) -> bytes | list[str]:
        """The encoded media (a PNG grid of the images, a WAV) or the texts."""
        async with self._memory(plan):
            try:
                return await self._batcher.submit(GENERATE, (plan, media_type))
            except QueueFullError:
                self._metrics.rejected.labels(self.name, "queue_full").inc()
                raise

    def _memory(self, plan: Plan) -> Any:
        """The budget a request holds while it queues and runs: its KV cache and a step's
        working memory for every stream."""
        if self.budget is None:
            return contextlib.nullcontext()
        config = self.generator.model.config
        streams = plan.prompt.n * (2 if plan.prompt.cfg != 1.0 else 1)
        cache = 2 * config.n_layer * config.block_size * config.d_model * 4
        step = _STEP_WIDTHS * config.d_model * 4 + config.vocab_size * 4
        return self.budget.reserve(streams * (cache + step), "this generation")

    # -- on the model's thread ---------------------------------------------------------
    def _run(self, key: Hashable, items: Sequence[tuple[Plan, str]]) -> list[bytes | list[str]]:
        (plan, media_type), started = items[0], time.perf_counter()
        made = self.generator(plan)
        pace = (time.perf_counter() - started) / max(1, plan.tokens)
        self._seconds_per_token = min(pace, self._seconds_per_token or math.inf)
        if made.modality == "text":
            return [made.texts]
        media = image_grid(made.media) if made.modality == "image" else made.media[0]
        return [render_media(made.modality, media, media_type, made.sample_rate)]

    def _observe(self, key: Hashable, size: int, seconds: float) -> None:
        self._metrics.batch_size.labels(self.name, GENERATE).observe(size)
        self._metrics.batch_seconds.labels(self.name, GENERATE).observe(seconds)


class ModelPool(BackgroundPool):
    """The NTP models of ``settings.ntp_checkpoints``, loaded one after another after start-up."""

    def __init__(
        self, settings: ServiceSettings, metrics: ServiceMetrics, budget: MemoryBudget | None
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.budget = budget
        self.paths = model_names(settings)
        super().__init__(list(self.paths))

    @property
    def ready(self) -> bool:
        return all(state == READY for state in self.states.values()) and not self.closing

    def get(self, name: str) -> ServedModel:
        """The served model ``name``: 503 while it loads or after it failed, 404 if unknown."""
        engine = self._engine(name)
        if engine is None:
            served = ", ".join(self.engines) or "none"
            raise ProblemError(UNKNOWN_MODEL, f"this service serves no model {name!r}; it serves: {served}")
        return engine

    async def _load_all(self) -> None:
        for name, path in self.paths.items():
            try:
                generator = await asyncio.to_thread(Generator, path, self.settings.device)
            except Exception as exc:
                self._failed(name, exc, "model")
                continue
            engine = ServedModel(name, generator, self.settings, self.metrics, self.budget)
            engine.start()
            self.engines[name] = engine
            self.states[name] = READY
            log.info("serving model %s (%s, %s out)", name, generator.format, generator.modality)
