"""End to end through processes, as users run it: ``tzoo serve`` (and the Docker image's
command and healthcheck with its environment), the Python SDK, and the ``tzoo`` CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from PIL import Image
from service_helpers import audio_name, image_name, png, wav

import tokenizers_zoo as tz
from tokenizers_zoo.cli import main
from tokenizers_zoo.service.client import (
    AsyncClient,
    Client,
    NotFoundError,
    UnprocessableError,
    UnsupportedMediaTypeError,
)
from tokenizers_zoo.service.local import LocalServer, free_port
from tokenizers_zoo.service.pool import served_names
from tokenizers_zoo.service.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server() -> LocalServer:
    """``tzoo serve`` with no tokenizer flags: the shipped defaults."""
    with LocalServer() as running:
        yield running


def _tzoo(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tokenizers_zoo.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
def test_serve_defaults_and_sdk_round_trips(server: LocalServer, tmp_path: Path) -> None:
    with Client(server.url) as client:
        assert client.ready()
        assert sorted(t["name"] for t in client.list()) == sorted(served_names(ServiceSettings()))
        assert client.info(image_name())["modality"] == "image"
        image = tmp_path / "in.png"
        image.write_bytes(png(40, 56))
        for media in (
            image,
            str(image),
            image.read_bytes(),
            Image.open(image),
            np.asarray(Image.open(image)),
        ):
            tokens = client.encode(image_name(), media)
            assert tokens.original_size == (40, 56) and tokens.kind == tz.get_entry(image_name()).kind
        assert Image.open(io.BytesIO(client.decode(image_name(), tokens))).size == (56, 40)
        assert client.decode(image_name(), tokens, output="pil").size == (56, 40)
        assert client.decode(image_name(), tokens, output="numpy").shape == (40, 56, 3)
        bare = client.decode(image_name(), tokens.data)  # a model's output: no metadata, whole grid
        assert Image.open(io.BytesIO(bare)).size[0] >= 56
        sound = client.encode(audio_name(), wav(4000, 16000))
        assert sound.ids is not None or sound.latents is not None
        assert client.decode(audio_name(), sound)[:4] == b"RIFF"
        samples = client.encode(audio_name(), np.zeros(800, np.float32), sample_rate=8000)
        assert samples.sample_rate and samples.original_size[0] > 0
        with pytest.raises(NotFoundError) as missing:
            client.info("no-such-tokenizer")
        assert missing.value.type.endswith(":unknown-tokenizer") and missing.value.status == 404
        with pytest.raises(UnsupportedMediaTypeError):
            client.encode(image_name(), b"plain text, no image")
        with pytest.raises(UnprocessableError):
            client.decode(image_name(), dataclasses.replace(tokens, data=tokens.data[:, :1]))
    json_client = Client(server.url, transport="json")
    assert np.array_equal(json_client.encode(image_name(), image).data, tokens.data)
    json_client.close()


@pytest.mark.slow
def test_async_client_batch_helper(server: LocalServer) -> None:
    async def run() -> list:
        async with AsyncClient(server.url) as client:
            assert await client.ready()
            encoded = await client.encode_many(image_name(), [png(seed=i) for i in range(6)], concurrency=3)
            return await client.decode_many(image_name(), encoded, concurrency=3, output="numpy")

    decoded = asyncio.run(run())
    assert len(decoded) == 6 and all(d.shape == (40, 56, 3) for d in decoded)


@pytest.mark.slow
def test_client_cli_end_to_end(server: LocalServer, tmp_path: Path) -> None:
    url = ["--url", server.url]
    assert _tzoo("client", *url, "ready").returncode == 0
    listed = json.loads(_tzoo("client", *url, "list").stdout)
    assert image_name() in {t["name"] for t in listed}
    (tmp_path / "in.png").write_bytes(png(30, 20))
    encoded = _tzoo(
        "client", *url, "encode", image_name(), str(tmp_path / "in.png"), "-o", str(tmp_path / "t.npy")
    )
    assert encoded.returncode == 0, encoded.stderr
    assert json.loads((tmp_path / "t.json").read_text())["original_size"] == [30, 20]
    decoded = _tzoo(
        "client", *url, "decode", image_name(), str(tmp_path / "t.npy"), "-o", str(tmp_path / "out.png")
    )
    assert decoded.returncode == 0, decoded.stderr
    assert Image.open(tmp_path / "out.png").size == (20, 30)
    missing = _tzoo(
        "client", *url, "encode", "no-such-tokenizer", str(tmp_path / "in.png"), "-o", str(tmp_path / "x.npy")
    )
    assert missing.returncode == 2 and "404" in missing.stderr and "Traceback" not in missing.stderr
    down = _tzoo("client", "--url", f"http://127.0.0.1:{free_port()}", "ready")
    assert down.returncode == 1 and "Traceback" not in down.stderr


@pytest.mark.slow
def test_sigterm_stops_the_service_cleanly(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with LocalServer(["--tokenizers", image_name()], log_path=log) as running:
        url = f"{running.url}/v1/tokenizers/{image_name()}/encode"
        assert httpx.post(url, content=png(), headers={"Content-Type": "image/png"}).status_code == 200
        # uvicorn re-raises the signal once shut down, so the exit status says "terminated".
        assert running.stop() in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in log.read_text()


@pytest.mark.slow
def test_several_worker_processes_share_the_port() -> None:
    with LocalServer(["--tokenizers", image_name(), "--workers", "2", "--max-batch-size", "4"]) as running:
        with Client(running.url) as client:
            results = client.encode_many(image_name(), [png(seed=i) for i in range(8)], concurrency=4)
        assert [r.original_size for r in results] == [(40, 56)] * 8


def test_local_encode_and_decode_need_no_server(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    (tmp_path / "in.png").write_bytes(png(30, 20))
    assert main(["encode", image_name(), str(tmp_path / "in.png"), "-o", str(tmp_path / "t.json")]) == 0
    assert main(["decode", image_name(), str(tmp_path / "t.json"), "-o", str(tmp_path / "out.png")]) == 0
    assert Image.open(tmp_path / "out.png").size == (20, 30)
    (tmp_path / "in.wav").write_bytes(wav(2000, 8000))
    assert main(["encode", audio_name(), str(tmp_path / "in.wav"), "-o", str(tmp_path / "a.npy")]) == 0
    assert main(["decode", audio_name(), str(tmp_path / "a.npy"), "-o", str(tmp_path / "a.wav")]) == 0
    assert (tmp_path / "a.wav").read_bytes()[:4] == b"RIFF"
    capsys.readouterr()
    assert main(["decode", audio_name(), str(tmp_path / "a.npy"), "-o", str(tmp_path / "a.png")]) == 2
    assert "audio/wav" in capsys.readouterr().err
    assert main(["serve", "--tokenizers", "no-such-tokenizer"]) == 2


def test_the_client_sdk_imports_no_torch() -> None:
    code = "import sys, tokenizers_zoo.service.client; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


# -- Docker: what can be checked without a Docker daemon ------------------------------------------
def _dockerfile() -> tuple[dict[str, str], list[str], list[str], str]:
    """The final stage's ENV, CMD, HEALTHCHECK command and USER."""
    text = (REPO / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    final = text.rsplit("\nFROM ", 1)[1]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            env.update(dict(part.split("=", 1) for part in shlex.split(line[4:])))
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", final, re.M).group(1))
    health = json.loads(re.search(r"^HEALTHCHECK .*CMD (\[.*\])$", final, re.M).group(1))
    user = re.search(r"^USER (\S+)$", final, re.M).group(1)
    return env, cmd, health, user


def test_dockerfile_runs_the_service_as_a_user_with_a_readyz_healthcheck() -> None:
    env, cmd, health, user = _dockerfile()
    assert cmd == ["tzoo", "serve"] and health == ["tzoo", "client", "ready"]
    assert user not in ("root", "0")
    assert env["TZOO_HOST"] == "0.0.0.0" and env["TZOO_WEIGHTS_DIR"] == "/weights"
    assert ServiceSettings.from_env(env).host == "0.0.0.0"  # the image's variables parse


@pytest.mark.slow
def test_image_command_and_healthcheck_work_with_the_image_environment(tmp_path: Path) -> None:
    env, cmd, health, _ = _dockerfile()
    # Same variables as the image, but on loopback and a free port (tests never bind all interfaces).
    env = {**env, "TZOO_HOST": "127.0.0.1", "TZOO_PORT": str(free_port()), "TZOO_WEIGHTS_DIR": str(tmp_path)}
    bin_dir = Path(sys.executable).parent
    full_env = {**os.environ, **env}
    service = subprocess.Popen(
        [str(bin_dir / cmd[0]), *cmd[1:]], env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while subprocess.run(
            [str(bin_dir / health[0]), *health[1:]], env=full_env, capture_output=True
        ).returncode:
            assert service.poll() is None and time.monotonic() < deadline
            time.sleep(0.5)
    finally:
        service.terminate()
        assert service.wait(30) in (0, -signal.SIGTERM)


def test_compose_runs_replicas_behind_the_load_balancer() -> None:
    compose = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text())
    service, lb = compose["services"]["tzoo"], compose["services"]["lb"]
    assert service["build"]["dockerfile"] == "docker/Dockerfile" and "replicas" in service["deploy"]
    assert "ports" not in service and lb["depends_on"]["tzoo"]["condition"] == "service_healthy"
    nginx = (REPO / "docker" / "nginx.conf").read_text()
    assert "server tzoo:8000" in nginx and "listen 8000" in nginx
    gpu = yaml.safe_load((REPO / "docker" / "compose.gpu.yaml").read_text())
    assert gpu["services"]["tzoo"]["build"]["args"]["FLAVOR"] == "cuda"


def test_make_serve_starts_the_service() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", "serve"], cwd=REPO, capture_output=True, text=True
    )
    assert "tzoo serve" in dry_run.stdout


@pytest.mark.slow
def test_bench_service_smoke(tmp_path: Path) -> None:
    from tokenizers_zoo.benchmarks.service import run_service_benchmark

    # The wrk phases are tests/test_bench_service.py's; here the real servers run once each.
    report = run_service_benchmark(
        size=32,
        clients=2,
        seconds=0.5,
        soak_seconds=0,
        repeats=1,
        out_dir=str(tmp_path),
        torch_threads=1,
        use_wrk=False,
    )
    assert report["tokenizer"] == image_name() and report["failures"] == []
    assert all(p["requests"] > 0 and p["non_2xx"] == 0 for p in report["phases"])
    assert {p["driver"] for p in report["phases"]} == set(report["batching_speedup"]) == {"python"}
    assert report["in_process_ms"]["batch_size"] == 2
    assert report["in_process_ms"]["batched_encode_ms_per_image"] > 0
    sequential = report["sequential"]
    assert sequential["pairs"] == 300 and sequential["served_p50_ms"] > 0
    assert math.isfinite(sequential["overhead_ms_median"])
    text = (tmp_path / "results.md").read_text()
    assert "batching can give at most" in text and "median of 300 paired differences" in text
