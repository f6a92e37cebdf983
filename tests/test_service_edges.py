"""The service at the edges of its input (issue 16): tiny audio, absurd rates and shapes,
clients that abort or stall their uploads, declared types that lie, and error details
that must say nothing about the server. Every answer is a 4xx problem, never a 500."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import select
import socket
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image
from service_helpers import assert_problem, image_name, metric, png, running, wait_until, wav

import tokenizers_zoo as tz
from tokenizers_zoo.service.app import create_app
from tokenizers_zoo.service.settings import ServiceSettings
from tokenizers_zoo.tokenizers.image.patch import PatchConfig, PatchTokenizer
from tokenizers_zoo.wire import write_npy

IMAGE = image_name()
#: The default audio tokenizer of each kind (a codec with weights, and log-mel).
AUDIO = tuple(dict.fromkeys(tz.default_tokenizer("audio", kind) for kind in ("discrete", "continuous")))


@pytest.fixture(scope="module")
def url() -> str:
    with running(create_app(ServiceSettings(tokenizers=(IMAGE, *AUDIO))), ready=True) as server:
        yield server.url


@pytest.fixture(scope="module")
def http(url: str) -> httpx.Client:
    with httpx.Client(base_url=url, timeout=30) as client:
        yield client


def _zero_tokens(name: str, samples: int) -> tuple[bytes, dict[str, str]]:
    """Zero tokens of ``samples`` samples of audio as ``.npy`` and its headers."""
    info = tz.get_entry(name).info
    data = np.zeros((1, *info.token_shape((samples,))), np.int64 if info.kind == "discrete" else np.float32)
    return write_npy(data), {"Content-Type": "application/x-npy", "X-Tzoo-Kind": info.kind}


# -- 2. user input that used to be a 500 ------------------------------------------------------
@pytest.mark.parametrize("name", AUDIO)
def test_audio_of_30_ms_or_less_and_three_frames_or_fewer(http: httpx.Client, name: str) -> None:
    rate = tz.get_entry(name).info.sample_rate or 16000
    for samples in (1, 100, rate * 30 // 1000):
        encoded = http.post(
            f"/v1/tokenizers/{name}/encode", content=wav(samples, rate), headers={"Content-Type": "audio/wav"}
        )
        assert encoded.status_code == 200, (samples, encoded.text[:300])
        assert encoded.json()["original_size"] == [samples]
        decoded = http.post(f"/v1/tokenizers/{name}/decode", json=encoded.json())
        assert decoded.status_code == 200 and decoded.content[:4] == b"RIFF", decoded.text[:300]
    hop = tz.get_entry(name).info.temporal_factor
    for frames in (1, 2, 3):
        body, headers = _zero_tokens(name, frames * hop)
        decoded = http.post(f"/v1/tokenizers/{name}/decode", content=body, headers=headers)
        assert decoded.status_code == 200, (frames, decoded.text[:300])


def test_sample_rates_out_of_range_are_refused(http: httpx.Client) -> None:
    name = AUDIO[0]
    body, headers = _zero_tokens(name, 1600)
    for rate in ("99999999999", "1000001", "0"):
        answer = http.post(
            f"/v1/tokenizers/{name}/decode", content=body, headers={**headers, "X-Tzoo-Sample-Rate": rate}
        )
        assert "sample_rate" in assert_problem(answer, 422, "invalid-tokens")["detail"]
    tokens = http.post(
        f"/v1/tokenizers/{name}/encode", content=wav(1600), headers={"Content-Type": "audio/wav"}
    ).json()
    as_json = http.post(f"/v1/tokenizers/{name}/decode", json={**tokens, "sample_rate": 10**12})
    assert_problem(as_json, 422, "invalid-tokens")
    raw = http.post(
        f"/v1/tokenizers/{name}/encode?sample_rate=99999999999",
        content=write_npy(np.zeros(160, np.float32)),
        headers={"Content-Type": "application/x-npy"},
    )
    assert_problem(raw, 400, "bad-parameter")


def test_a_shape_that_is_not_a_list_of_sizes_is_invalid_tokens(http: httpx.Client) -> None:
    name = AUDIO[0]
    tokens = http.post(
        f"/v1/tokenizers/{name}/encode", content=wav(1600), headers={"Content-Type": "audio/wav"}
    ).json()
    for shape in (5, "1,2", {"0": 1}, [1.0], [-1], [True]):
        answer = http.post(
            f"/v1/tokenizers/{name}/decode",
            content=json.dumps({**tokens, "shape": shape}),
            headers={"Content-Type": "application/json"},
        )
        assert "shape" in assert_problem(answer, 422, "invalid-tokens")["detail"]


# -- 3. clients that abort their upload ------------------------------------------------------
class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _captured_logs() -> Iterator[_Records]:
    """Every record of the service's loggers (they propagate to the root) and uvicorn's (which
    do not), the service's from INFO up."""
    handler = _Records()
    service = logging.getLogger("tokenizers_zoo.service")
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.error")]
    level = service.level
    service.setLevel(logging.INFO)
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        service.setLevel(level)


def _head(path: str, length: int, content_type: str = "image/png") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_an_aborted_upload_is_a_499_and_one_quiet_log_line(url: str) -> None:
    port = int(url.rsplit(":", 1)[1])
    route = "/v1/tokenizers/{name}/encode"
    labels = {"method": "POST", "route": route}
    before = {s: metric(url, "tzoo_requests_total", status=s, **labels) for s in ("499", "500")}
    body = png(64, 64)
    aborts = 5
    with _captured_logs() as logs:
        for _ in range(aborts):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(_head(f"/v1/tokenizers/{IMAGE}/encode", len(body)) + body[: len(body) // 2])
                time.sleep(0.05)  # the server is reading the body now
        aborted = before["499"] + aborts
        wait_until(lambda: metric(url, "tzoo_requests_total", status="499", **labels) == aborted)
    assert metric(url, "tzoo_requests_total", status="500", **labels) == before["500"]
    loud = [r for r in logs.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == [], [r.getMessage() for r in loud]
    quiet = [r for r in logs.records if "closed the connection" in r.getMessage()]
    assert len(quiet) == aborts and all(r.levelno == logging.INFO for r in quiet)


# -- 4. the OpenAPI document is exact ----------------------------------------------------------
def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document: dict, ref: str) -> object:
    assert ref.startswith("#/"), ref
    node: object = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]  # type: ignore[index]
    return node


def test_every_ref_in_the_openapi_document_resolves(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()
    refs = set(_refs(document))
    assert "#/components/schemas/BatchEncodeRequest" in refs and "#/components/schemas/TokensBody" in refs
    for ref in refs:
        assert isinstance(_resolve(document, ref), dict), ref
    # FastAPI's 422 validation answers do not happen here (a bad parameter is a 400 problem).
    assert "HTTPValidationError" not in json.dumps(document)


def test_openapi_bodies_are_the_ones_the_server_takes(http: httpx.Client) -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")  # installed with schemathesis
    document = http.get("/openapi.json").json()

    def validator(name: str):  # noqa: ANN202
        return jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{name}", **document})

    tokens_body = validator("TokensBody")
    answer = http.post(
        f"/v1/tokenizers/{IMAGE}/encode", content=png(16, 16), headers={"Content-Type": "image/png"}
    )
    tokens = answer.json()
    key = "ids" if tokens["kind"] == "discrete" else "latents"
    other = "latents" if key == "ids" else "ids"
    assert tokens_body.is_valid(tokens)
    for wrong in (
        {k: v for k, v in tokens.items() if k != key},  # neither ids nor latents
        {**tokens, other: tokens[key]},  # both
        {**tokens, key: None},
        {**tokens, "kind": "continuous" if key == "ids" else "discrete"},
        {**tokens, "shape": 5},
        {**tokens, "sample_rate": 10**9},
    ):
        assert not tokens_body.is_valid(wrong), wrong
        decoded = http.post(f"/v1/tokenizers/{IMAGE}/decode", json=wrong)
        assert decoded.status_code == 422, (wrong.keys(), decoded.text[:200])  # the server refuses it too
    batch_body = validator("BatchEncodeRequest")
    items = [{"data": base64.b64encode(png(8, 8)).decode(), "content_type": "image/png"}]
    assert batch_body.is_valid({"items": items}) and not batch_body.is_valid({"items": []})
    assert not batch_body.is_valid({"items": items * 65})  # max_batch_items, 64 by default
    batch = http.post(f"/v1/tokenizers/{IMAGE}/encode/batch", json={"items": items})
    assert batch.status_code == 200 and validator("BatchEncodeResponse").is_valid(batch.json())
    assert "error" not in batch.json()["results"][0]  # a result has tokens or an error, not both keys
    # Multipart: only 'file' fields (one for encode, 1..max for batch), as documented.
    encode = document["paths"]["/v1/tokenizers/{name}/encode"]["post"]["requestBody"]["content"]
    assert encode["multipart/form-data"]["schema"]["additionalProperties"] is False
    one = {"file": ("x.png", png(8, 8), "image/png")}
    path = f"/v1/tokenizers/{IMAGE}/encode"
    assert http.post(path, files=one).status_code == 200
    assert_problem(http.post(path, files=one, data={"other": "1"}), 400, "malformed-body")
    assert_problem(
        http.post(path, files={**one, "extra": ("y.png", png(8, 8), "image/png")}), 400, "malformed-body"
    )
    assert_problem(http.post(f"{path}/batch", files={**one, "extra": one["file"]}), 400, "malformed-body")
    two = [("file", ("a.png", png(8, 8), "image/png"))] * 2
    assert_problem(http.post(path, files=two), 400, "malformed-body")


def test_security_is_declared_only_when_api_keys_are() -> None:
    def document(**settings: object) -> dict:
        return create_app(ServiceSettings(tokenizers=(IMAGE,), **settings), loader=_patch_loader).openapi()

    open_service = document()
    assert "securitySchemes" not in open_service["components"]
    operations = [op for item in open_service["paths"].values() for op in item.values()]
    assert all("security" not in op and "401" not in op["responses"] for op in operations)
    protected = document(api_keys=("key",))
    assert set(protected["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    tokenizers = protected["paths"]["/v1/tokenizers"]["get"]
    assert (
        tokenizers["security"] == [{"HTTPBearer": []}, {"APIKeyHeader": []}]
        and "401" in tokenizers["responses"]
    )
    assert "security" not in protected["paths"]["/healthz"]["get"]
    limited = document(max_batch_items=3)["components"]["schemas"]["BatchEncodeRequest"]
    assert limited["properties"]["items"]["maxItems"] == 3


# -- 5. uploads that stall or trickle ----------------------------------------------------------
def _patch_loader(name: str, device: str, weights: object) -> PatchTokenizer:
    return PatchTokenizer(PatchConfig(16), name)


def _answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the one answer on ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers.get("content-length", 0)):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


def test_a_body_that_stalls_or_trickles_is_a_408_and_the_connection_closes() -> None:
    settings = ServiceSettings(tokenizers=(IMAGE,), body_timeout=0.5)  # served by a patch tokenizer
    path = f"/v1/tokenizers/{IMAGE}/encode"
    body = png(32, 32)
    with running(create_app(settings, loader=_patch_loader), ready=True) as server:
        port = server.config.port
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:  # a whole body in time
            sock.sendall(_head(path, len(body)) + body)
            assert _answer(sock)[0] == 200
        for trickle in (False, True):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                started = time.monotonic()
                sock.sendall(_head(path, len(body)) + body[:10])
                # A byte every 50 ms until the answer: alive, but far too slow.
                while (
                    trickle and not select.select([sock], [], [], 0.05)[0] and time.monotonic() < started + 3
                ):
                    sock.sendall(b"\0")
                status, headers, answer = _answer(sock)
                waited = time.monotonic() - started
                closed = sock.recv(1) == b""
            assert status == 408 and headers["content-type"].startswith("application/problem+json")
            problem = json.loads(answer)
            assert problem["type"].endswith(":body-timeout") and "0.5 s" in problem["detail"]
            assert closed and 0.4 < waited < 3, (closed, waited)
        route = {"method": "POST", "route": "/v1/tokenizers/{name}/encode"}
        assert metric(server.url, "tzoo_requests_total", status="408", **route) == 2
    assert ServiceSettings.from_env({"TZOO_BODY_TIMEOUT": "2.5"}).body_timeout == 2.5


# -- 6. the declared type chooses the decoder; Accept q=0 refuses --------------------------------
def _image_as(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((24, 24, 3), 90, np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


def test_the_declared_type_chooses_the_decoder(http: httpx.Client) -> None:
    path = f"/v1/tokenizers/{IMAGE}/encode"
    files = {
        kind: _image_as(fmt)
        for kind, fmt in (
            ("image/png", "PNG"),
            ("image/gif", "GIF"),
            ("image/jpeg", "JPEG"),
            ("image/webp", "WEBP"),
        )
    }
    for declared in files:
        for actual, body in files.items():
            answer = http.post(path, content=body, headers={"Content-Type": declared})
            if actual == declared:
                assert answer.status_code == 200, (declared, answer.text[:200])
                continue
            detail = assert_problem(answer, 400, "malformed-body")["detail"]
            assert declared in detail and " at 0x" not in detail, detail
    multipart = http.post(path, files={"file": ("x.gif", files["image/png"], "image/gif")})
    assert_problem(multipart, 400, "malformed-body")
    item = {"data": base64.b64encode(files["image/png"]).decode(), "content_type": "image/gif"}
    batch = http.post(f"{path}/batch", json={"items": [item]}).json()["results"][0]
    assert batch["error"]["status"] == 400
    # Every image type of the media-type table is read from bodies too, by its own decoder.
    for declared, image_format in (("image/bmp", "BMP"), ("image/tiff", "TIFF")):
        answer = http.post(path, content=_image_as(image_format), headers={"Content-Type": declared})
        assert answer.status_code == 200, answer.text[:200]
        assert declared in http.get(f"/v1/tokenizers/{IMAGE}").json()["accepts"]
    tiff_as_bmp = http.post(path, content=_image_as("TIFF"), headers={"Content-Type": "image/bmp"})
    assert_problem(tiff_as_bmp, 400, "malformed-body")
    wav_as_flac = http.post(
        f"/v1/tokenizers/{AUDIO[0]}/encode", content=wav(1600), headers={"Content-Type": "audio/flac"}
    )
    assert_problem(wav_as_flac, 400, "malformed-body")


def test_accept_q_0_is_not_acceptable(http: httpx.Client) -> None:
    path = f"/v1/tokenizers/{IMAGE}/encode"
    image = png(16, 16)
    refused = http.post(
        path, content=image, headers={"Content-Type": "image/png", "Accept": "application/json;q=0"}
    )
    assert_problem(refused, 406, "not-acceptable")
    other = http.post(
        path, content=image, headers={"Content-Type": "image/png", "Accept": "*/*, application/json;q=0"}
    )
    assert other.status_code == 200 and other.headers["content-type"] == "application/x-npy"
    tokens = http.post(path, content=image, headers={"Content-Type": "image/png"}).json()
    no_png = http.post(
        f"/v1/tokenizers/{IMAGE}/decode", json=tokens, headers={"Accept": "image/png;q=0, image/*"}
    )
    assert no_png.status_code == 200 and no_png.headers["content-type"] == "image/jpeg"


# -- 7. details say nothing about the server ---------------------------------------------------
class _BuggyTokenizer(PatchTokenizer):
    """Its encode fails the way bugs and careless messages do: a repr and a server path."""

    def encode_tensor(self, x: object, **options: object) -> object:
        raise RuntimeError(f"bug: {io.BytesIO()!r} from /srv/tzoo/secret/model.py")


def test_problem_details_hold_no_reprs_or_server_paths(http: httpx.Client) -> None:
    app = create_app(ServiceSettings(tokenizers=(IMAGE,)), loader=lambda name, *_: _BuggyTokenizer(name=name))
    with running(app, ready=True) as server:
        path = f"{server.url}/v1/tokenizers/{IMAGE}/encode"
        bug = httpx.post(path, content=png(16, 16), headers={"Content-Type": "image/png"})
        batch = httpx.post(
            f"{path}/batch",
            json={"items": [{"data": base64.b64encode(png(16, 16)).decode(), "content_type": "image/png"}]},
        )
    detail = assert_problem(bug, 500, "internal")["detail"]
    assert batch.json()["results"][0]["error"]["status"] == 500
    for text in (bug.text, batch.text):
        assert " at 0x" not in text and "/srv" not in text and "secret" not in text, text
    assert "RuntimeError" in detail
    garbage = http.post(
        f"/v1/tokenizers/{IMAGE}/encode", content=b"junk", headers={"Content-Type": "image/png"}
    )
    assert " at 0x" not in assert_problem(garbage, 400, "malformed-body")["detail"]


def test_public_strips_reprs_and_absolute_paths() -> None:
    from tokenizers_zoo.service.problems import public

    assert public(f"cannot identify image file {io.BytesIO()!r}") == "cannot identify image file <BytesIO>"
    assert (
        public("not found (searched /root/.cache/torch/hub/checkpoints)")
        == "not found (searched .../checkpoints)"
    )
    for kept in (
        "Accept 'image/png;q=0' names nothing: image/png",
        "ratio 1/2",
        "see http://host/a/b",
        "/readyz",
    ):
        assert public(kept) == kept
