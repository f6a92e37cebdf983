"""``POST /v1/models/{name}/generate`` over real HTTP, with untrained checkpoints of each
kind (class-conditional images, text, speech): the media that come back, the SDK, the
OpenAPI document, metrics, and a 4xx problem for every kind of bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from ntp_helpers import CORPUS, codes_of, random_checkpoint
from PIL import Image
from service_helpers import assert_problem, image_name, metric, running

from tokenizers_zoo.cli import main
from tokenizers_zoo.media.audio import read_audio
from tokenizers_zoo.ntp.text import TextVocabulary
from tokenizers_zoo.ntp.vocabulary import Vocabulary
from tokenizers_zoo.service.app import create_app
from tokenizers_zoo.service.client import Client, NotFoundError, UnprocessableError
from tokenizers_zoo.service.routers.generate import GENERATE_PATH
from tokenizers_zoo.service.settings import ServiceSettings

LIMITS = {"max_batch_items": 8, "max_audio_seconds": 2.0, "max_pixels": 64 * 64}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    photos = Vocabulary(resolutions=((2, 2), (9, 9)), num_classes=2, media=(codes_of("image-fsq-f8-4k"),))
    text = Vocabulary(text=TextVocabulary.from_corpus(CORPUS), specials=(), coordinate_bins=0)
    speech = Vocabulary(media=(codes_of("audio-rvq-16khz", 3),))
    return {
        "photos": random_checkpoint(root / "photos", photos, "class_conditional", 16, ["blue", "red"]),
        "fox": random_checkpoint(root / "fox", text, "text", 32),
        "speech": random_checkpoint(root / "speech", speech, "speech_continuation", 48),
    }


@pytest.fixture(scope="module")
def url(checkpoints: dict[str, Path]) -> str:
    dirs = tuple(str(path) for path in checkpoints.values())
    settings = ServiceSettings(tokenizers=(image_name(),), ntp_checkpoints=dirs, **LIMITS)
    with running(create_app(settings), ready=True) as server:
        yield server.url


@pytest.fixture(scope="module")
def http(url: str) -> httpx.Client:
    with httpx.Client(base_url=url, timeout=60) as client:
        yield client


def _generate(http: httpx.Client, name: str, prompt: object, **headers: str) -> httpx.Response:
    body = prompt if isinstance(prompt, bytes) else json.dumps(prompt).encode()
    return http.post(f"/v1/models/{name}/generate", content=body, headers=headers)


def test_models_are_listed_and_ready(http: httpx.Client) -> None:
    ready = http.get("/readyz").json()
    assert ready["models"] == {"photos": "ready", "fox": "ready", "speech": "ready"}
    models = {m["name"]: m for m in http.get("/v1/models").json()}
    assert models["photos"]["labels"] == ["blue", "red"] and models["photos"]["resolutions"] == ["2x2", "9x9"]
    assert models["photos"]["returns"][0] == "image/png" and models["speech"]["returns"] == ["audio/wav"]
    assert models["fox"]["format"] == "text" and models["fox"]["returns"] == ["application/json"]


def test_an_image_model_answers_a_png_grid(http: httpx.Client) -> None:
    prompt = {"class": "red", "n": 4, "cfg": 2.0, "seed": 1, "temperature": 1.0}
    first = _generate(http, "photos", prompt)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(first.content)).size == (32, 32)  # 2 x 2 images of 16 x 16 pixels
    assert _generate(http, "photos", prompt).content == first.content  # the seed decides
    assert _generate(http, "photos", {**prompt, "seed": 2}).content != first.content
    jpeg = _generate(http, "photos", {"class": 0}, Accept="image/jpeg")
    assert jpeg.headers["content-type"] == "image/jpeg" and Image.open(io.BytesIO(jpeg.content)).size == (
        16,
        16,
    )


def test_text_and_speech_models(http: httpx.Client) -> None:
    texts = _generate(http, "fox", {"text": "the ", "max_new_tokens": 5, "n": 2}).json()
    assert texts["model"] == "fox" and [len(t) for t in texts["texts"]] == [9, 9]
    assert all(t.startswith("the ") for t in texts["texts"])
    speech = _generate(http, "speech", {"seconds": 0.1, "seed": 3})
    assert speech.status_code == 200 and speech.headers["content-type"] == "audio/wav"
    samples, rate = read_audio(speech.content)
    assert rate == 16000 and 0 < samples.shape[-1] <= 1600  # up to 5 frames of 20 ms


def test_bad_prompts_get_4xx_problems(http: httpx.Client) -> None:
    cases = [
        ("nobody", {"class": 0}, {}, 404, "unknown-model"),
        ("photos", b"not json", {}, 400, "malformed-body"),
        ("photos", {"class": 0, "bogus": 1}, {}, 400, "malformed-body"),
        ("photos", {"n": 0}, {}, 400, "malformed-body"),
        ("photos", {"top_p": 0}, {}, 400, "malformed-body"),
        ("photos", {"resolution": "big"}, {}, 400, "malformed-body"),
        ("photos", {"caption": "a cat"}, {}, 422, "invalid-prompt"),
        ("photos", {"class": 7}, {}, 422, "invalid-prompt"),
        ("photos", {"class": "green"}, {}, 422, "invalid-prompt"),
        ("photos", {"cfg": 2.0}, {}, 422, "invalid-prompt"),
        ("photos", {"resolution": "3x3"}, {}, 422, "invalid-prompt"),
        ("photos", {"resolution": "9x9"}, {}, 422, "invalid-prompt"),  # over the block
        ("photos", {"n": 9}, {}, 413, "too-large"),
        ("photos", {"class": 0}, {"Accept": "audio/wav"}, 406, "not-acceptable"),
        ("fox", {"class": 1}, {}, 422, "invalid-prompt"),
        ("fox", {"text": "ZZZ"}, {}, 422, "invalid-prompt"),  # Z is not in the corpus
        ("speech", {"n": 2, "seconds": 0.1}, {}, 422, "invalid-prompt"),
        ("speech", {"seconds": 60}, {}, 413, "too-large"),
        ("speech", {"text": "hello", "seconds": 0.1}, {}, 422, "invalid-prompt"),
    ]
    for name, prompt, headers, status, slug in cases:
        body = assert_problem(_generate(http, name, prompt, **headers), status, slug)
        assert "Traceback" not in body["detail"], body


def test_metrics_count_generate_requests(url: str, http: httpx.Client) -> None:
    assert _generate(http, "photos", {"class": 1}).status_code == 200
    assert metric(url, "tzoo_requests_total", method="POST", route=GENERATE_PATH, status="200") >= 1
    assert metric(url, "tzoo_batch_size_count", tokenizer="photos", op="generate") >= 1


def test_the_sdk_generates(url: str) -> None:
    with Client(url) as client:
        assert {m["name"] for m in client.models()} == {"photos", "fox", "speech"}
        png = client.generate("photos", label="blue", n=2, cfg=1.5)
        assert Image.open(io.BytesIO(png)).size == (32, 16)
        assert [t[:4] for t in client.generate("fox", text="lazy", max_new_tokens=3)] == ["lazy"]
        with pytest.raises(UnprocessableError, match="invalid|not a class id or name"):
            client.generate("photos", label="green")
        with pytest.raises(NotFoundError):
            client.generate("nobody")


def test_the_openapi_document_describes_generate(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()
    operation = document["paths"][GENERATE_PATH]["post"]
    assert set(operation["responses"]["200"]["content"]) >= {"image/png", "audio/wav", "application/json"}
    schema = document["components"]["schemas"]["GenerateRequest"]
    assert schema["properties"]["n"]["maximum"] == LIMITS["max_batch_items"]
    assert schema["properties"]["seconds"]["maximum"] == LIMITS["max_audio_seconds"]
    assert "class" in schema["properties"] and schema["additionalProperties"] is False
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    validator = jsonschema_rs.Draft202012Validator(
        {"$ref": "#/components/schemas/GenerateRequest", **document}
    )
    assert validator.is_valid({"class": "red", "n": 4, "cfg": 2.0})
    assert not validator.is_valid({"n": 9}) and not validator.is_valid({"bogus": 1})


def test_a_checkpoint_that_cannot_load_keeps_the_service_unready(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    settings = ServiceSettings(tokenizers=(image_name(),), ntp_checkpoints=(str(broken),))
    with running(create_app(settings)) as server:
        for _ in range(200):
            ready = httpx.get(f"{server.url}/readyz")
            if ready.json().get("models", {}).get("broken") == "failed":
                break
        body = assert_problem(ready, 503, "not-ready")
        assert "broken" in body["detail"] and "Retry-After" not in ready.headers
        assert_problem(httpx.post(f"{server.url}/v1/models/broken/generate", json={}), 503, "not-ready")


def test_serve_refuses_a_missing_checkpoint(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert main(["serve", "--ntp-checkpoint", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "not a directory train-ntp wrote" in err and err.count("\n") == 1
