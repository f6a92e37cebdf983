"""The tokenizers one service process serves, and whether it is ready.

Weights load in the background after start-up, so ``/healthz`` answers at once and
``/readyz`` says 503 until every tokenizer is loaded (or says which one failed):
orchestrators then route traffic only to replicas that can serve it. ``BackgroundPool``
is that lifecycle, shared with the NTP models' pool (``models.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import tokenizers_zoo as tz
from tokenizers_zoo.errors import UnknownTokenizerError, WeightsNotFoundError
from tokenizers_zoo.info import KINDS, MODALITIES, MemoryCost
from tokenizers_zoo.media.files import MediaLimits
from tokenizers_zoo.service.engine import ServedTokenizer
from tokenizers_zoo.service.memory import MIB, MemoryBudget, default_budget_mib
from tokenizers_zoo.service.metrics import ServiceMetrics
from tokenizers_zoo.service.problems import NOT_READY, ProblemError, public
from tokenizers_zoo.service.settings import ALL_LOCAL, ServiceSettings
from tokenizers_zoo.tokenizer import Tokenizer

log = logging.getLogger("tokenizers_zoo.service")

#: ``load(name, device, weights)``; ``tz.load`` unless a caller supplies another.
Loader = Callable[[str, str, Path | None], Tokenizer]

LOADING, READY, FAILED, SKIPPED = "loading", "ready", "failed", "skipped"


def served_names(settings: ServiceSettings) -> list[str]:
    """The names to serve: the given ones (each must be registered), every registered one
    for ``all-local``, or by default the registered default of each modality and kind."""
    if settings.tokenizers == (ALL_LOCAL,):
        return tz.list_tokenizers()
    if settings.tokenizers:
        for name in settings.tokenizers:
            tz.get_entry(name)  # UnknownTokenizerError, with "did you mean", for a typo
        return list(dict.fromkeys(settings.tokenizers))
    defaults = []
    for modality in MODALITIES:
        for kind in KINDS:
            try:
                defaults.append(tz.default_tokenizer(modality, kind))
            except UnknownTokenizerError:
                continue
    return list(dict.fromkeys(defaults))


def _default_loader(name: str, device: str, weights: Path | None) -> Tokenizer:
    return tz.load(name, device=device, weights=weights)


class BackgroundPool:
    """What the tokenizer and model pools share: engines loaded one after another in the
    background (``_load_all``), each name's state (loading, ready, failed, skipped) and why
    it failed, and the 503 of a name that is not served yet or will not be."""

    def __init__(self, names: list[str]) -> None:
        self.states: dict[str, str] = dict.fromkeys(names, LOADING)
        self.errors: dict[str, str] = {}
        self.engines: dict[str, Any] = {}
        self.closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._load_all())

    async def close(self) -> None:
        """Stop loading, then let every engine finish what is queued."""
        self.closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(*(engine.close() for engine in self.engines.values()))

    @property
    def loading(self) -> bool:
        """Whether waiting can make the service ready: something loads and nothing failed."""
        states = self.states.values()
        return LOADING in states and FAILED not in states and not self.closing

    def _engine(self, name: str) -> Any:
        """The engine ``name``; 503 while it loads (with ``Retry-After``) or when it failed to
        load (without: that does not clear); ``None`` for a name not served."""
        engine = self.engines.get(name)
        if engine is not None:
            return engine
        state = self.states.get(name)
        if state == LOADING:
            raise ProblemError(NOT_READY, f"{name} is still loading", {"Retry-After": "1"})
        if state == FAILED:
            raise ProblemError(NOT_READY, f"{name} failed to load: {self.errors[name]}")
        return None

    def _failed(self, name: str, exc: Exception, what: str) -> None:
        self.states[name] = FAILED
        self.errors[name] = public(f"{type(exc).__name__}: {exc}")
        log.error("%s %s failed to load", what, name, exc_info=exc)

    async def _load_all(self) -> None:
        raise NotImplementedError


class TokenizerPool(BackgroundPool):
    def __init__(
        self, settings: ServiceSettings, metrics: ServiceMetrics, loader: Loader | None = None
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.names = served_names(settings)
        super().__init__(self.names)
        budget_mib = settings.max_memory_mib or default_budget_mib(settings.workers)
        #: Shared by every served tokenizer of this process.
        self.budget = MemoryBudget(budget_mib * MIB, max_waiting=settings.max_queue)
        metrics.memory_reserved.set_function(lambda: self.budget.reserved)
        self._loader = loader or _default_loader

    @property
    def ready(self) -> bool:
        settled = all(state in (READY, SKIPPED) for state in self.states.values())
        return settled and bool(self.engines) and not self.closing

    def get(self, name: str) -> ServedTokenizer:
        """The served tokenizer ``name``: 503 while it loads or when it failed to load, 404
        when this service does not serve it (skipped ones say why)."""
        engine = self._engine(name)
        if engine is not None:
            return engine
        state = self.states.get(name)
        served = ", ".join(self.engines) or "none yet"
        why = f" ({state}: {self.errors[name]})" if name in self.errors else ""
        raise UnknownTokenizerError(f"this service does not serve {name!r}{why}; it serves: {served}")

    async def _load_all(self) -> None:
        limits = MediaLimits(
            max_pixels=self.settings.max_pixels,
            max_audio_seconds=self.settings.max_audio_seconds,
            max_frames=self.settings.max_frames,
            max_video_seconds=self.settings.max_video_seconds,
            max_video_pixels=self.settings.max_video_pixels,
        )
        log.info("memory budget for requests in flight: %d MiB", self.budget.total // MIB)
        if self.settings.torch_threads:
            torch.set_num_threads(self.settings.torch_threads)
        for name in self.names:
            try:
                tokenizer = await asyncio.to_thread(
                    self._loader, name, self.settings.device, self._weights(name)
                )
            except WeightsNotFoundError as exc:
                # all-local serves what this machine has; a name asked for by hand must load.
                self.states[name] = SKIPPED if self.settings.tokenizers == (ALL_LOCAL,) else FAILED
                self.errors[name] = public(str(exc))
                log.warning("tokenizer %s not served: %s", name, exc)
                continue
            except Exception as exc:
                self._failed(name, exc, "tokenizer")
                continue
            engine = ServedTokenizer(
                tokenizer,
                self.metrics,
                limits,
                max_batch_size=self.settings.max_batch_size,
                max_wait_ms=self.settings.max_wait_ms,
                max_queue=self.settings.max_queue,
                budget=self.budget,
                cost=_memory_cost(name),
                timeout_s=self.settings.request_timeout_s,
            )
            if engine.cost is None:
                log.warning("%s records no memory cost: its requests are not budgeted", name)
            engine.start()
            self.engines[name] = engine
            self.states[name] = READY
            log.info(
                "serving %s (%s %s) on %s", name, engine.info.modality, engine.info.kind, tokenizer.device
            )

    def _weights(self, name: str) -> Path | None:
        if self.settings.weights_dir is None:
            return None
        path = Path(self.settings.weights_dir) / name
        return path if path.exists() else None


def _memory_cost(name: str) -> MemoryCost | None:
    try:
        return tz.get_entry(name).memory
    except UnknownTokenizerError:  # a checkpoint directory served by path
        return None
