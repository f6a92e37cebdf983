"""The service's pieces without a server: the wire format, content negotiation, settings,
the dynamic batcher, and the client's retries."""

from __future__ import annotations

import asyncio
import io
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from tokenizers_zoo.errors import InvalidTokensError, MalformedBodyError, NotAcceptableError
from tokenizers_zoo.media.files import NO_LIMITS
from tokenizers_zoo.service.batching import BatcherClosedError, DynamicBatcher, QueueFullError
from tokenizers_zoo.service.client import Client, OverloadedError
from tokenizers_zoo.service.engine import ServedTokenizer
from tokenizers_zoo.service.metrics import ServiceMetrics
from tokenizers_zoo.service.negotiation import negotiate
from tokenizers_zoo.service.settings import ServiceSettings, SettingsError
from tokenizers_zoo.tokenizers.image.patch import PatchConfig, PatchTokenizer
from tokenizers_zoo.wire import EncodedTokens, load_tokens, read_npy, save_tokens, write_npy


# -- wire ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "array",
    [
        np.arange(6, dtype=np.int64).reshape(1, 2, 3),
        np.ones((2, 3), np.float32),
        np.asfortranarray(np.eye(3)),
    ],
)
def test_npy_round_trip_matches_numpy(array: np.ndarray) -> None:
    body = write_npy(array)
    assert np.array_equal(read_npy(body), np.load(io.BytesIO(body), allow_pickle=False))


def test_npy_reader_refuses_pickles_lies_and_structures() -> None:
    pickled = io.BytesIO()
    np.save(pickled, np.array([None], dtype=object), allow_pickle=True)
    structured = write_npy(np.zeros(2, dtype=[("a", "i4"), ("b", "f4")]))
    huge_claim = write_npy(np.zeros(4, np.float32)).replace(b"(4,)", b"(4000000000,)")
    for bad in (pickled.getvalue(), structured, huge_claim, b"not npy at all", b"\x93NUMPY\x09\x00"):
        with pytest.raises(MalformedBodyError):
            read_npy(bad)


def test_token_json_is_strict() -> None:
    good = {"tokenizer": "t", "kind": "discrete", "original_size": [4], "ids": [[[1, 2]]]}
    assert EncodedTokens.from_json(good).data.dtype == np.int64
    for bad in (
        [1, 2],
        {"ids": [[1]], "latents": [[1.0]]},
        {"ids": [[1.5]]},
        {"ids": [[1], [1, 2]]},
        {"ids": [["a"]]},
        {"ids": [[True]]},
        {"ids": [[2**70]]},
        {**good, "original_size": [0]},
        {**good, "shape": [9]},
        {**good, "shape": 3},
        {**good, "shape": "1,1,2"},
        {**good, "shape": [1, 1, 2.0]},
        {**good, "shape": [1, True, 2]},
        {**good, "shape": {"a": 1}},
        {**good, "dtype": 5},
        {**good, "sample_rate": 0},
        {**good, "sample_rate": 99999999999},
        {**good, "sample_rate": "16k"},
        {**good, "kind": "continuous"},
        {**good, "extras": [1]},
    ):
        with pytest.raises(InvalidTokensError):
            EncodedTokens.from_json(bad)


def test_token_headers_are_strict_too() -> None:
    npy = np.zeros((1, 1, 2), np.int64)
    assert EncodedTokens.from_npy(write_npy(npy), {"X-Tzoo-Sample-Rate": "1000000"}).sample_rate == 1_000_000
    for rate in ("99999999999", "0", "-5", "8k"):  # a WAV header holds at most 2**32 - 1
        with pytest.raises(InvalidTokensError, match="sample_rate"):
            EncodedTokens.from_npy(write_npy(npy), {"X-Tzoo-Sample-Rate": rate})


def test_tokens_files_round_trip(tmp_path) -> None:  # noqa: ANN001
    tokens = EncodedTokens("t", "continuous", np.ones((1, 2, 3), np.float32), (32, 48), None, {"q": 1})
    for name in ("x.npy", "x.json"):
        save_tokens(tmp_path / name, tokens)
        loaded = load_tokens(tmp_path / name)
        assert loaded.original_size == (32, 48) and loaded.extras == {"q": 1}
        assert np.array_equal(loaded.data, tokens.data)
    (tmp_path / "bare.npy").write_bytes(write_npy(np.zeros((1, 4), np.int32)))
    assert load_tokens(tmp_path / "bare.npy", "t").kind == "discrete"


def test_negotiate() -> None:
    offered = ["image/png", "image/jpeg", "application/x-npy"]
    assert negotiate(None, offered) == "image/png"
    assert negotiate("*/*", offered) == "image/png"
    assert negotiate("image/jpeg", offered) == "image/jpeg"
    assert negotiate("image/*;q=0.5, application/x-npy", offered) == "application/x-npy"
    assert negotiate("text/html, image/*", offered) == "image/png"
    with pytest.raises(NotAcceptableError):
        negotiate("text/html", offered)


def test_negotiate_q_0_refuses_and_the_most_specific_range_wins() -> None:
    """RFC 9110 12.5.1: q=0 is "not acceptable"; a type takes its most specific range's q."""
    offered = ["application/json", "application/x-npy"]
    for refused in ("application/json;q=0", "*/*;q=0", "application/*;q=0", "application/json;q=nope"):
        with pytest.raises(NotAcceptableError):
            negotiate(refused, ["application/json"])
    assert negotiate("application/json;q=0, application/x-npy", offered) == "application/x-npy"
    assert negotiate("*/*, application/json;q=0", offered) == "application/x-npy"
    assert negotiate("application/*;q=0.2, application/x-npy;q=0.1", offered) == "application/json"
    assert negotiate("Application/X-NPY;Q=0.9, */*;q=0.5", offered) == "application/x-npy"
    assert negotiate("application/json;q=0.5, application/x-npy;q=0.5", offered) == "application/json"
    with pytest.raises(NotAcceptableError):
        negotiate("application/json;q=2, application/x-npy;q=-1", offered)  # out of 0..1


# -- settings ------------------------------------------------------------------------------
def test_settings_from_env_flags_and_back(tmp_path) -> None:  # noqa: ANN001
    env = {"TZOO_PORT": "9000", "TZOO_TOKENIZERS": "a, b", "TZOO_MAX_WAIT_MS": "2.5", "TZOO_HOST": "0.0.0.0"}
    settings = ServiceSettings.from_env(env, port=9100)
    assert settings.port == 9100 and settings.tokenizers == ("a", "b") and settings.max_wait_ms == 2.5
    assert ServiceSettings.from_env(settings.to_env()) == settings
    assert ServiceSettings.from_env({}) == ServiceSettings()  # defaults: loopback, shipped tokenizers
    assert ServiceSettings().host == "127.0.0.1"
    for bad in (
        {"TZOO_PORT": "http"},
        {"TZOO_MAX_BATCH_SIZE": "0"},
        {"TZOO_API_KEY_FILE": str(tmp_path / "none")},
    ):
        with pytest.raises(SettingsError):
            ServiceSettings.from_env(bad)
    (tmp_path / "empty").write_text("# no keys\n\n")
    with pytest.raises(SettingsError, match="no key"):
        ServiceSettings.from_env({"TZOO_API_KEY_FILE": str(tmp_path / "empty")})


# -- batcher -------------------------------------------------------------------------------
def _batcher(calls: list, **kw: float) -> DynamicBatcher:
    def run(key: object, items: list) -> list:
        calls.append((key, list(items)))
        if "bad" in items:
            raise ValueError("bad item")
        time.sleep(0.05)
        return [f"{key}:{item}" for item in items]

    settings = {"max_batch_size": 4, "max_wait_s": 0.0, "max_queue": 100} | kw
    return DynamicBatcher(run, ThreadPoolExecutor(1), **settings)


def test_batches_fill_while_busy_split_by_key_and_cap_at_max_size() -> None:
    async def main() -> tuple[list, list]:
        calls: list = []
        batcher = _batcher(calls)
        batcher.start()
        first = asyncio.create_task(batcher.submit("a", 0))
        await asyncio.sleep(0.01)  # the first batch is running now
        rest = [batcher.submit("a" if i % 2 else "b", i) for i in range(1, 11)]
        results = await asyncio.gather(first, *rest)
        await batcher.close()
        return calls, results

    calls, results = asyncio.run(main())
    assert results == [f"{'a' if i % 2 or i == 0 else 'b'}:{i}" for i in range(11)]
    sizes = [len(items) for _, items in calls]
    assert sizes[0] == 1 and max(sizes) == 4 and sum(sizes) == 11


def test_max_wait_holds_a_batch_open_for_late_arrivals() -> None:
    async def main() -> list:
        calls: list = []
        batcher = _batcher(calls, max_wait_s=0.2)
        batcher.start()
        first = asyncio.create_task(batcher.submit("k", 1))
        await asyncio.sleep(0.05)
        await asyncio.gather(first, batcher.submit("k", 2))
        await batcher.close()
        return calls

    assert [items for _, items in asyncio.run(main())] == [[1, 2]]


def test_full_queue_cancelled_callers_failing_items_and_close() -> None:
    async def main() -> None:
        calls: list = []
        batcher = _batcher(calls, max_queue=2)
        batcher.start()
        running = asyncio.create_task(batcher.submit("k", "running"))
        await asyncio.sleep(0.01)
        waiting = [asyncio.create_task(batcher.submit("k", x)) for x in ("gone", "bad")]
        await asyncio.sleep(0.01)
        with pytest.raises(QueueFullError) as full:
            await batcher.submit("k", "one too many")
        assert full.value.retry_after >= 1 and batcher.depth == 2
        waiting[0].cancel()  # its caller went away: it must not run
        await asyncio.sleep(0)
        assert batcher.depth == 1
        assert await running == "k:running"
        with pytest.raises(ValueError, match="bad item"):
            await waiting[1]
        ok_and_bad = [batcher.submit("k", "ok"), batcher.submit("k", "bad")]
        outcomes = await asyncio.gather(*ok_and_bad, return_exceptions=True)
        assert outcomes[0] == "k:ok" and isinstance(outcomes[1], ValueError)  # one bad item fails alone
        await batcher.close()
        with pytest.raises(BatcherClosedError):
            await batcher.submit("k", "late")
        assert all("gone" not in items for _, items in calls)

    asyncio.run(main())


# -- client retries ------------------------------------------------------------------------
def test_client_retries_429_and_503_then_raises_typed_errors() -> None:
    answers = [429, 503, 200]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        status = answers.pop(0) if answers else 429
        if status == 200:
            return httpx.Response(200, json=[{"name": "x"}])
        problem = {
            "type": "urn:tokenizers-zoo:problem:overloaded",
            "title": "busy",
            "status": status,
            "detail": "d",
        }
        return httpx.Response(status, json=problem, headers={"Retry-After": "0"})

    client = Client("http://service", api_key="k", retries=2, backoff=0.001)
    client._http = httpx.Client(
        base_url="http://service", transport=httpx.MockTransport(handler), headers=client._headers
    )
    assert client.list() == [{"name": "x"}]
    assert seen == ["Bearer k"] * 3
    with pytest.raises(OverloadedError) as error:
        client.list()
    assert error.value.status == 429 and error.value.type.endswith(":overloaded")


def test_encode_options_come_from_the_query_as_json_values() -> None:
    class WithOptions(PatchTokenizer):
        options = ("bandwidth", "mode")

    served = ServedTokenizer(
        WithOptions(PatchConfig(8), "opts"),
        ServiceMetrics(),
        NO_LIMITS,
        max_batch_size=2,
        max_wait_ms=0,
        max_queue=2,
    )
    query = {"bandwidth": "6", "mode": "fast", "sample_rate": "16000", "other": "1"}
    assert served.options_from_query(query) == {"bandwidth": 6, "mode": "fast"}
