"""Shared by the service tests: tokenizer names picked from the registry (never hard-coded),
test media, a real uvicorn server in a thread, and a tokenizer whose encode can be held."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI

import tokenizers_zoo as tz
from tokenizers_zoo.media import write_image, write_wav
from tokenizers_zoo.service.local import free_port
from tokenizers_zoo.tokenizers.image.patch import PatchConfig, PatchTokenizer


def image_name() -> str:
    """The default image tokenizer (discrete first, as the bench picks it), else any image one."""
    for kind in ("discrete", "continuous"):
        with contextlib.suppress(tz.UnknownTokenizerError):
            return tz.default_tokenizer("image", kind)
    return tz.list_tokenizers("image")[0]


def audio_name() -> str:
    for kind in ("discrete", "continuous"):
        with contextlib.suppress(tz.UnknownTokenizerError):
            return tz.default_tokenizer("audio", kind)
    return tz.list_tokenizers("audio")[0]


def png(height: int = 40, width: int = 56, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return write_image(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def wav(samples: int = 4000, rate: int = 16000) -> bytes:
    t = np.arange(samples) / rate
    return write_wav((0.4 * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32), rate)


@contextlib.contextmanager
def running(app: FastAPI, ready: bool = False) -> Iterator[uvicorn.Server]:
    """``app`` under a real uvicorn server on a free loopback port (``server.url``);
    ``ready=True`` also waits until every tokenizer has loaded (``/readyz`` is 200)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    server.url = f"http://127.0.0.1:{server.config.port}"  # type: ignore[attr-defined]
    server.thread = thread  # type: ignore[attr-defined]
    if ready:
        wait_until(lambda: httpx.get(f"{server.url}/readyz").status_code == 200, timeout=120)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(30)


def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def metric(url: str, name: str, **labels: str) -> float:
    """One sample of ``/metrics`` (0 when absent)."""
    import httpx

    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    """An RFC 9457 answer with this status and stable type."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"urn:tokenizers-zoo:problem:{slug}", body
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def encoded_audio(audio_format: str, codec: str, seconds: float = 0.25, rate: int = 16000) -> bytes:
    """A short tone in ``audio_format`` (flac, ogg, mp3), written with PyAV."""
    import io

    import av

    samples = (0.4 * np.sin(np.arange(int(seconds * rate)) / 5) * 32767).astype(np.int16)[None]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=audio_format) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buffer.getvalue()


class HeldPatchTokenizer(PatchTokenizer):
    """A patch tokenizer whose ``encode_tensor`` waits until ``release()``: lets a test fill
    the queue, or line requests up behind a running batch, deterministically."""

    def __init__(self, name: str) -> None:
        super().__init__(PatchConfig(16), name)
        self.running = threading.Event()
        self._gate = threading.Event()

    def release(self) -> None:
        self._gate.set()

    def encode_tensor(self, x: Any, **options: Any) -> Any:
        self.running.set()
        self._gate.wait(30)
        return super().encode_tensor(x, **options)


def held_loader(holder: dict[str, HeldPatchTokenizer]):  # noqa: ANN201
    """A loader giving a ``HeldPatchTokenizer`` under the asked-for name, kept in ``holder``."""

    def load(name: str, device: str, weights: Any) -> HeldPatchTokenizer:
        holder[name] = HeldPatchTokenizer(name=name)
        return holder[name]

    return load
