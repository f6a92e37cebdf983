"""How one service process is configured: flags of ``tzoo serve``, else ``TZOO_*`` environment
variables (what containers set), else the defaults below.

The defaults serve the shipped default tokenizers on loopback and load nothing from the
network: binding to every interface, or serving more, is always asked for explicitly.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tokenizers_zoo.errors import TokenizersZooError

ENV_PREFIX = "TZOO_"
ALL_LOCAL = "all-local"


class SettingsError(TokenizersZooError, ValueError):
    """A setting out of range, a malformed ``TZOO_*`` variable or an unusable key file."""


@dataclass(frozen=True)
class ServiceSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    #: Tokenizer names; empty means the shipped defaults, ``("all-local",)`` every registered
    #: tokenizer whose weights are on this machine.
    tokenizers: tuple[str, ...] = ()
    device: str = "cpu"
    #: torch's intra-op threads (0: torch's default, one per core). Small models on a busy
    #: machine run far faster with 1: idle threads spin-wait for cores other work holds.
    torch_threads: int = 0
    #: A directory with one checkpoint directory per tokenizer name (a mounted volume).
    weights_dir: str | None = None
    #: Run directories of trained NTP models (``tzoo train-ntp``), served by ``generate`` under
    #: their directory's name.
    ntp_checkpoints: tuple[str, ...] = ()
    max_batch_size: int = 32
    #: 0: a batch runs as soon as the model is free; under load batches fill while the
    #: previous one runs, so waiting only adds latency unless requests come in bursts.
    max_wait_ms: float = 0.0
    #: Queued requests per tokenizer; one more is answered 429.
    max_queue: int = 256
    #: Seconds from arrival to answer before 503 (0: no limit).
    request_timeout_s: float = 30.0
    #: Seconds from a request's headers to the end of its body before 408 and the connection
    #: is closed (0: no limit), so stalled or trickling uploads cannot hold connections.
    body_timeout: float = 30.0
    api_key_file: str | None = None
    workers: int = 1
    max_body_bytes: int = 32 * 1024 * 1024
    #: Pixels of an image, and of each video frame.
    max_pixels: int = 4096 * 4096
    max_audio_seconds: float = 600.0
    #: Frames of a video (a minute at 30 fps), its seconds, and its pixels in all frames: the
    #: last bounds what a small compressed file decodes to (3 bytes a pixel, 1.5 GiB here).
    max_frames: int = 1800
    max_video_seconds: float = 600.0
    max_video_pixels: int = 2**29
    #: Items in one batch request.
    max_batch_items: int = 64
    #: MiB that requests in flight may use at once, beyond the loaded models, per worker
    #: process (``service/memory.py``); 0: half of this machine's memory, shared by the workers.
    max_memory_mib: int = 0
    api_keys: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        positive = (
            "port",
            "max_batch_size",
            "max_queue",
            "workers",
            "max_body_bytes",
            "max_pixels",
            "max_frames",
            "max_video_pixels",
        )
        for name in positive + ("max_batch_items",):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in (
            "max_wait_ms",
            "request_timeout_s",
            "body_timeout",
            "max_audio_seconds",
            "max_video_seconds",
            "torch_threads",
            "max_memory_mib",
        ):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must be >= 0, got {getattr(self, name)}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> ServiceSettings:
        """Settings from ``TZOO_<FIELD>`` variables (``TZOO_MAX_BATCH_SIZE=8``;
        ``TZOO_TOKENIZERS=a,b``), then ``overrides`` (flags that were given) on top."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None or f.name == "api_keys":
                continue
            values[f.name] = _parse(f.name, raw, type(getattr(cls(), f.name)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.api_key_file and not settings.api_keys:
            settings = dataclasses.replace(settings, api_keys=read_api_keys(settings.api_key_file))
        return settings

    def to_env(self) -> dict[str, str]:
        """The variables that make ``from_env`` rebuild these settings (for worker processes)."""
        env = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "api_keys" or value is None:
                continue
            env[ENV_PREFIX + f.name.upper()] = ",".join(value) if isinstance(value, tuple) else str(value)
        return env


def _parse(name: str, raw: str, kind: type) -> object:
    try:
        if kind is tuple:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}") from None
    return raw or None


def read_api_keys(path: str) -> tuple[str, ...]:
    """One key per line; blank lines and ``#`` comments are skipped. An unreadable or empty
    file is an error: a service that was meant to be protected must not start open."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise SettingsError(f"cannot read the API key file {path}: {exc.strerror}") from exc
    keys = tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not keys:
        raise SettingsError(f"the API key file {path} holds no key")
    return keys
