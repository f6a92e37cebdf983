"""The service over real HTTP: a uvicorn server on a loopback port, not a TestClient.

Tokenizer names come from the registry (the default image and audio tokenizers), so
these tests follow the registry as tokenizers are added or renamed.
"""

from __future__ import annotations

import base64
import io
import socket

import httpx
import numpy as np
import pytest
from PIL import Image
from service_helpers import (
    assert_problem,
    audio_name,
    encoded_audio,
    image_name,
    metric,
    png,
    running,
    wav,
)

import tokenizers_zoo as tz
from tokenizers_zoo.service.app import create_app
from tokenizers_zoo.service.settings import ServiceSettings
from tokenizers_zoo.wire import write_npy

IMAGE = image_name()
AUDIO = audio_name()
LIMITS = {"max_pixels": 200 * 200, "max_audio_seconds": 2.0, "max_body_bytes": 2 * 1024 * 1024}


@pytest.fixture(scope="module")
def url() -> str:
    settings = ServiceSettings(tokenizers=(IMAGE, AUDIO), **LIMITS)
    with running(create_app(settings), ready=True) as server:
        yield server.url


@pytest.fixture(scope="module")
def http(url: str) -> httpx.Client:
    with httpx.Client(base_url=url, timeout=30) as client:
        yield client


def _encode(http: httpx.Client, name: str, body: bytes, content_type: str, accept: str = "application/json"):
    return http.post(
        f"/v1/tokenizers/{name}/encode",
        content=body,
        headers={"Content-Type": content_type, "Accept": accept},
    )


def _tokens_like(name: str, size: tuple[int, ...], bad: str | None = None) -> tuple[np.ndarray, str]:
    """Valid zero tokens for media of ``size`` (or ones made invalid: ``range`` / ``nan``)."""
    info = tz.load(name).info
    shape = (1, *info.token_shape(size))
    if info.kind == "discrete":
        data = np.zeros(shape, np.int64)
        if bad == "range":
            data[(0,) * len(shape)] = info.vocab_size[0]
    else:
        data = np.zeros(shape, np.float32)
        if bad == "nan":
            data[(0,) * len(shape)] = np.nan
    return data, info.kind


# -- routes -------------------------------------------------------------------------------
def test_health_ready_docs_and_openapi(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz").json()
    assert ready["status"] == "ready" and ready["tokenizers"] == {IMAGE: "ready", AUDIO: "ready"}
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/v1/tokenizers/{name}/encode", "/v1/tokenizers/{name}/decode", "/metrics"} <= set(paths)
    assert "swagger" in http.get("/docs").text.lower()


def test_list_and_info(http: httpx.Client) -> None:
    listed = {t["name"]: t for t in http.get("/v1/tokenizers").json()}
    assert set(listed) == {IMAGE, AUDIO}
    info = http.get(f"/v1/tokenizers/{IMAGE}").json()
    assert info["modality"] == "image" and info["kind"] == tz.get_entry(IMAGE).kind
    assert "image/png" in info["accepts"] and "application/x-npy" in info["accepts"]
    assert info["returns"][0] == "image/png"
    assert "audio/wav" in http.get(f"/v1/tokenizers/{AUDIO}").json()["accepts"]


def test_image_round_trip_json_and_npy_agree(http: httpx.Client) -> None:
    image = png(40, 56)
    as_json = _encode(http, IMAGE, image, "image/png")
    assert as_json.status_code == 200 and as_json.headers["content-type"] == "application/json"
    body = as_json.json()
    info = tz.load(IMAGE).info
    assert body["original_size"] == [40, 56] and body["shape"] == [1, *info.token_shape((40, 56))]
    as_npy = _encode(http, IMAGE, image, "image/png", accept="application/x-npy")
    assert as_npy.headers["x-tzoo-original-size"] == "40,56" and as_npy.headers["x-tzoo-kind"] == body["kind"]
    array = np.load(io.BytesIO(as_npy.content), allow_pickle=False)
    assert np.array_equal(array, np.asarray(body["ids" if body["kind"] == "discrete" else "latents"]))

    from_json = http.post(f"/v1/tokenizers/{IMAGE}/decode", json=body)
    assert from_json.status_code == 200 and from_json.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(from_json.content)).size == (56, 40)
    npy_headers = {k: v for k, v in as_npy.headers.items() if k.startswith("x-tzoo-")}
    from_npy = http.post(
        f"/v1/tokenizers/{IMAGE}/decode",
        content=as_npy.content,
        headers={**npy_headers, "Content-Type": "application/x-npy", "Accept": "application/x-npy"},
    )
    pixels = np.load(io.BytesIO(from_npy.content), allow_pickle=False)
    assert pixels.shape == (40, 56, 3) and pixels.dtype == np.uint8
    assert np.array_equal(pixels, np.asarray(Image.open(io.BytesIO(from_json.content))))
    # A model's output: no headers, so the kind comes from the dtype and the size from the grid.
    bare = http.post(
        f"/v1/tokenizers/{IMAGE}/decode",
        content=as_npy.content,
        headers={"Content-Type": "application/x-npy"},
    )
    grid = Image.open(io.BytesIO(bare.content)).size
    assert bare.status_code == 200 and grid[0] >= 56 and grid[1] >= 40


def test_multipart_npy_media_and_other_image_types(http: httpx.Client) -> None:
    image = png(32, 32)
    multipart = http.post(f"/v1/tokenizers/{IMAGE}/encode", files={"file": ("x.png", image, "image/png")})
    reference = _encode(http, IMAGE, image, "image/png").json()
    assert multipart.json() == reference
    pixels = np.asarray(Image.open(io.BytesIO(image)))
    assert _encode(http, IMAGE, write_npy(pixels), "application/x-npy").json() == reference
    for fmt, kind in (("WEBP", "image/webp"), ("GIF", "image/gif"), ("JPEG", "image/jpeg")):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=fmt)
        assert _encode(http, IMAGE, buffer.getvalue(), kind).status_code == 200, fmt
    jpeg = http.post(f"/v1/tokenizers/{IMAGE}/decode", json=reference, headers={"Accept": "image/jpeg"})
    assert jpeg.headers["content-type"] == "image/jpeg" and jpeg.content[:3] == b"\xff\xd8\xff"


@pytest.mark.parametrize(
    ("content_type", "make"),
    [
        ("audio/wav", lambda: wav(4000, 16000)),
        ("audio/flac", lambda: encoded_audio("flac", "flac")),
        ("audio/ogg", lambda: encoded_audio("ogg", "libopus")),
        ("audio/mpeg", lambda: encoded_audio("mp3", "libmp3lame")),
    ],
)
def test_audio_files_encode_and_decode_to_wav(http: httpx.Client, content_type: str, make) -> None:  # noqa: ANN001
    encoded = _encode(http, AUDIO, make(), content_type)
    assert encoded.status_code == 200, encoded.text
    body = encoded.json()
    assert body["sample_rate"] and body["original_size"][0] > 0
    decoded = http.post(f"/v1/tokenizers/{AUDIO}/decode", json=body)
    assert decoded.headers["content-type"] == "audio/wav" and decoded.content[:4] == b"RIFF"


def test_raw_audio_samples_need_a_sample_rate(http: httpx.Client) -> None:
    samples = write_npy((0.1 * np.ones(800)).astype(np.float32))
    assert _encode(http, AUDIO, samples, "application/x-npy").status_code == 422
    ok = http.post(
        f"/v1/tokenizers/{AUDIO}/encode?sample_rate=8000",
        content=samples,
        headers={"Content-Type": "application/x-npy"},
    )
    assert ok.status_code == 200 and ok.json()["original_size"] == [800 * (ok.json()["sample_rate"] // 8000)]


def test_batch_route_gives_per_item_results(http: httpx.Client) -> None:
    items = [
        {"data": base64.b64encode(png(24, 24, seed=1)).decode(), "content_type": "image/png"},
        {"data": "@@not base64@@", "content_type": "image/png"},
        {"data": base64.b64encode(b"hello").decode(), "content_type": "text/plain"},
        {"data": base64.b64encode(png(24, 24, seed=2)).decode(), "content_type": "image/png"},
    ]
    answer = http.post(f"/v1/tokenizers/{IMAGE}/encode/batch", json={"items": items})
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert results[0]["tokens"]["original_size"] == [24, 24] and results[3]["tokens"]
    assert results[1]["error"]["status"] == 400 and results[2]["error"]["status"] == 415
    files = [
        ("file", ("a.png", png(16, 16), "image/png")),
        ("file", ("b.png", png(16, 16, seed=3), "image/png")),
    ]
    multi = http.post(f"/v1/tokenizers/{IMAGE}/encode/batch", files=files).json()["results"]
    assert len(multi) == 2 and all(r["tokens"] for r in multi)


# -- errors --------------------------------------------------------------------------------
def test_malformed_bodies_are_400(http: httpx.Client) -> None:
    assert_problem(_encode(http, IMAGE, b"\x89PNG\r\n\x1a\nbroken", "image/png"), 400, "malformed-body")
    assert_problem(_encode(http, AUDIO, b"RIFF....WAVEjunk", "audio/wav"), 400, "malformed-body")
    decode = f"/v1/tokenizers/{IMAGE}/decode"
    not_json = http.post(decode, content=b"{not json", headers={"Content-Type": "application/json"})
    assert_problem(not_json, 400, "malformed-body")
    bad_npy = write_npy(np.zeros((1, 2), np.float32))[:-4]  # header says more bytes than follow
    assert_problem(_encode(http, IMAGE, bad_npy, "application/x-npy"), 400, "malformed-body")
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_problem(_encode(http, IMAGE, pickled.getvalue(), "application/x-npy"), 400, "malformed-body")
    assert_problem(http.post(f"/v1/tokenizers/{IMAGE}/encode/batch", json={"nope": 1}), 400, "malformed-body")
    bad_param = http.post(
        f"/v1/tokenizers/{AUDIO}/encode?sample_rate=abc", content=wav(), headers={"Content-Type": "audio/wav"}
    )
    assert_problem(bad_param, 400, "bad-parameter")


def test_unknown_names_routes_and_methods(http: httpx.Client) -> None:
    body = assert_problem(http.get("/v1/tokenizers/no-such-tokenizer"), 404, "unknown-tokenizer")
    assert IMAGE in body["detail"]
    assert_problem(_encode(http, "no-such-tokenizer", png(), "image/png"), 404, "unknown-tokenizer")
    assert_problem(http.get("/no/such/route"), 404, "not-found")
    assert_problem(http.get(f"/v1/tokenizers/{IMAGE}/encode"), 405, "method-not-allowed")


def test_unsupported_and_unacceptable_types(http: httpx.Client) -> None:
    assert_problem(_encode(http, IMAGE, b"hello", "text/plain"), 415, "unsupported-media-type")
    assert_problem(_encode(http, IMAGE, wav(), "audio/wav"), 415, "unsupported-media-type")
    assert_problem(_encode(http, IMAGE, png(), ""), 415, "unsupported-media-type")
    to_png = http.post(f"/v1/tokenizers/{IMAGE}/decode", content=png(), headers={"Content-Type": "image/png"})
    assert_problem(to_png, 415, "unsupported-media-type")
    assert_problem(_encode(http, IMAGE, png(), "image/png", accept="text/html"), 406, "not-acceptable")
    tokens = _encode(http, IMAGE, png(), "image/png").json()
    wav_of_image = http.post(f"/v1/tokenizers/{IMAGE}/decode", json=tokens, headers={"Accept": "audio/wav"})
    assert_problem(wav_of_image, 406, "not-acceptable")


def test_too_large_bodies_and_media_are_413(http: httpx.Client) -> None:
    declared = _encode(http, IMAGE, b"\0" * (LIMITS["max_body_bytes"] + 1), "image/png")
    assert_problem(declared, 413, "too-large")

    def chunks():  # noqa: ANN202 - no Content-Length: counted as it streams
        for _ in range(40):
            yield b"\0" * 65536

    streamed = http.post(
        f"/v1/tokenizers/{IMAGE}/encode", content=chunks(), headers={"Content-Type": "image/png"}
    )
    assert_problem(streamed, 413, "too-large")
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300)).save(buffer, format="PNG")  # 90,000 pixels in a tiny file
    assert_problem(_encode(http, IMAGE, buffer.getvalue(), "image/png"), 413, "too-large")
    assert_problem(_encode(http, AUDIO, wav(3 * 8000, 8000), "audio/wav"), 413, "too-large")
    data, kind = _tokens_like(IMAGE, (300, 300))
    headers = {"Content-Type": "application/x-npy", "X-Tzoo-Kind": kind, "X-Tzoo-Original-Size": "300,300"}
    decode = http.post(f"/v1/tokenizers/{IMAGE}/decode", content=write_npy(data), headers=headers)
    assert_problem(decode, 413, "too-large")


def test_invalid_tokens_are_422(http: httpx.Client) -> None:
    decode = f"/v1/tokenizers/{IMAGE}/decode"
    tokens = _encode(http, IMAGE, png(32, 32), "image/png").json()
    key = "ids" if tokens["kind"] == "discrete" else "latents"
    wrong_shape = {**tokens, key: np.asarray(tokens[key])[:, :1].tolist(), "shape": None}
    assert_problem(http.post(decode, json=wrong_shape), 422, "invalid-tokens")
    assert_problem(http.post(decode, json={**tokens, "tokenizer": AUDIO}), 422, "invalid-tokens")
    two_items = {**tokens, key: tokens[key] * 2, "shape": None}
    assert_problem(http.post(decode, json=two_items), 422, "invalid-tokens")
    assert_problem(http.post(decode, json={"original_size": [32, 32]}), 422, "invalid-tokens")
    assert_problem(http.post(decode, json={**tokens, "extras": {"no_such_option": 1}}), 422, "invalid-tokens")
    bad = "range" if tokens["kind"] == "discrete" else "nan"
    data, kind = _tokens_like(IMAGE, (32, 32), bad=bad)
    headers = {"Content-Type": "application/x-npy", "X-Tzoo-Kind": kind, "X-Tzoo-Original-Size": "32,32"}
    assert_problem(http.post(decode, content=write_npy(data), headers=headers), 422, "invalid-tokens")
    out_of_range = {"kind": "discrete", "original_size": [3], "sample_rate": 8000, "ids": [[[0, 255, 256]]]}
    assert_problem(http.post(f"/v1/tokenizers/{AUDIO}/decode", json=out_of_range), 422, "invalid-tokens")
    float_ids = {"kind": "discrete", "original_size": [2], "sample_rate": 8000, "ids": [[[0.5, 1.5]]]}
    assert_problem(http.post(f"/v1/tokenizers/{AUDIO}/decode", json=float_ids), 422, "invalid-tokens")


def test_metrics_count_requests_by_route_and_status(url: str, http: httpx.Client) -> None:
    before = metric(url, "tzoo_requests_total", method="GET", route="/v1/tokenizers/{name}", status="404")
    http.get("/v1/tokenizers/no-such-tokenizer")
    after = metric(url, "tzoo_requests_total", method="GET", route="/v1/tokenizers/{name}", status="404")
    assert after == before + 1
    text = http.get("/metrics").text
    for name in ("tzoo_queue_depth", "tzoo_batch_size_bucket", "tzoo_request_duration_seconds_bucket"):
        assert name in text


def test_raw_socket_garbage_gets_no_5xx(url: str) -> None:
    port = int(url.rsplit(":", 1)[1])
    request = (
        f"POST /v1/tokenizers/{IMAGE}/encode HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        "Content-Length: 5\r\nConnection: close\r\n\r\n\x00\xff\x00\xff\x00"
    ).encode("latin1")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        status_line = sock.recv(256).split(b"\r\n", 1)[0]
    assert status_line.split()[1] == b"400"


# -- authentication ---------------------------------------------------------------------------
def test_api_keys(tmp_path) -> None:  # noqa: ANN001
    keys = tmp_path / "keys"
    keys.write_text("# service keys\nfirst-key\n\nsecond-key\n")
    settings = ServiceSettings.from_env({}, tokenizers=(IMAGE,), api_key_file=str(keys))
    with running(create_app(settings), ready=True) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/healthz").status_code == 200 and http.get("/readyz").status_code == 200
        missing = assert_problem(http.get("/v1/tokenizers"), 401, "unauthorized")
        assert "API key" in missing["detail"]
        assert http.get("/v1/tokenizers").headers["www-authenticate"] == "Bearer"
        assert_problem(
            http.get("/v1/tokenizers", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized"
        )
        assert_problem(http.get("/metrics"), 401, "unauthorized")
        assert http.get("/v1/tokenizers", headers={"Authorization": "Bearer second-key"}).status_code == 200
        assert http.get("/metrics", headers={"X-API-Key": "first-key"}).status_code == 200
