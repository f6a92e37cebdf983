"""Tokens, TokenizerInfo, the registry and checkpoints."""

from __future__ import annotations

import json

import pytest
import torch

import tokenizers_zoo as tz
from tokenizers_zoo.tokenizers import PatchTokenizer
from tokenizers_zoo.tokens import PER_ITEM, Tokens


def test_info_token_shapes() -> None:
    image = tz.TokenizerInfo("x", "image", "discrete", vocab_size=(1024,), spatial_factor=16)
    assert image.token_shape((256, 250)) == (16, 16)
    rvq_image = tz.TokenizerInfo("x", "image", "discrete", vocab_size=(8, 8, 8), spatial_factor=8)
    assert rvq_image.token_shape((17, 8)) == (3, 1, 3)
    latent = tz.TokenizerInfo("x", "image", "continuous", latent_dim=4, spatial_factor=8)
    assert latent.token_shape((64, 72)) == (8, 9, 4)
    video = tz.TokenizerInfo("x", "video", "discrete", vocab_size=(64,), spatial_factor=8, temporal_factor=4)
    assert video.token_shape((17, 64, 64)) == (5, 8, 8)
    audio = tz.TokenizerInfo(
        "x", "audio", "discrete", vocab_size=(1024,) * 8, temporal_factor=320, sample_rate=24000
    )
    assert audio.token_shape((24000,)) == (8, 75)
    mel = tz.TokenizerInfo("x", "audio", "continuous", latent_dim=80, temporal_factor=256)
    assert mel.token_shape((1000,)) == (4, 80)
    with pytest.raises(ValueError, match="input_shape"):
        image.token_shape((3, 256, 256))


def test_info_rejects_inconsistent_descriptions() -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        tz.TokenizerInfo("x", "image", "discrete")
    with pytest.raises(ValueError, match="modality"):
        tz.TokenizerInfo("x", "text", "discrete", vocab_size=(2,))


def test_tokens_need_exactly_one_payload_and_a_batch_axis() -> None:
    with pytest.raises(tz.InvalidTokensError):
        tz.Tokens("t", (4, 4))
    with pytest.raises(tz.InvalidTokensError):
        tz.Tokens("t", (4, 4), ids=torch.zeros(1, 2, dtype=torch.long), latents=torch.zeros(1, 2))
    with pytest.raises(tz.InvalidTokensError, match="integers"):
        tz.Tokens("t", (4, 4), ids=torch.zeros(1, 2))
    with pytest.raises(tz.InvalidTokensError, match="batch axis"):
        tz.Tokens("t", (4,), ids=torch.zeros(3, dtype=torch.long))


def test_tokens_hold_their_payload_contiguous_so_decoding_is_layout_free() -> None:
    view = torch.randn(2, 3, 4, 5).permute(0, 2, 3, 1)  # what an encoder's channels-last view is
    assert not view.is_contiguous()
    tokens = Tokens("image-kl-f8-c16", (32, 40), latents=view)
    assert tokens.latents.is_contiguous() and tokens.latents.equal(view)
    kl = tz.load("image-kl-f8-c16")
    image = torch.rand(1, 3, 32, 40) * 2 - 1
    encoded = kl.encode(image)
    read_back = Tokens(
        encoded.tokenizer, encoded.original_size, latents=torch.from_numpy(encoded.latents.numpy())
    )
    assert kl.decode(encoded).equal(kl.decode(read_back))


def test_tokens_json_round_trip_and_indexing() -> None:
    ids = torch.arange(24).reshape(2, 3, 4)
    tokens = tz.Tokens("t", (48, 64), ids=ids, extras={"bandwidth": 6.0})
    body = json.loads(json.dumps(tokens.to_dict()))
    assert body["shape"] == [2, 3, 4] and body["dtype"] == "int64"
    back = tz.Tokens.from_dict(body)
    assert torch.equal(back.ids, ids) and back.original_size == (48, 64) and back.extras == {"bandwidth": 6.0}
    assert torch.equal(tokens[1].ids, ids[1:2]) and torch.equal(tokens[-1].ids, ids[1:2])
    assert len(tokens) == 2 and tokens.kind == "discrete"


def test_per_item_extras_follow_their_items() -> None:
    ids = torch.arange(24).reshape(3, 2, 4)
    per_item = [{"scales": [0.1]}, {"scales": [0.2]}, {"scales": [0.3]}]
    tokens = tz.Tokens("t", (8,), ids=ids, extras={"bandwidth": 6.0, PER_ITEM: per_item})
    assert tokens[1].extras == {"bandwidth": 6.0, PER_ITEM: [{"scales": [0.2]}]}
    assert tokens[-1].extras[PER_ITEM] == [{"scales": [0.3]}] and tokens[1:].extras[PER_ITEM] == per_item[1:]
    joined = tz.Tokens.concat([tokens[2], tokens[0]])
    assert torch.equal(joined.ids, ids[[2, 0]]) and joined.extras[PER_ITEM] == [per_item[2], per_item[0]]
    assert tz.Tokens.from_dict(json.loads(json.dumps(tokens.to_dict()))).extras == tokens.extras
    with pytest.raises(tz.InvalidTokensError, match="one entry per item"):
        tz.Tokens("t", (8,), ids=ids, extras={PER_ITEM: per_item[:2]})


@pytest.mark.parametrize(
    "body",
    [
        {"tokenizer": "t", "original_size": [4, 4]},
        {"tokenizer": "t", "original_size": [4, 4], "ids": [[1, 2], [3]]},
        {"tokenizer": "t", "original_size": [4, 4], "ids": [[1, 2]], "shape": [2, 1]},
        {"tokenizer": "t", "ids": [[1, 2]]},
        {"tokenizer": "t", "original_size": [4, 4], "latents": "abc"},
    ],
)
def test_tokens_from_malformed_json_raise_typed_errors(body: dict) -> None:
    with pytest.raises(tz.InvalidTokensError):
        tz.Tokens.from_dict(body)


def test_registry_lists_filters_and_defaults() -> None:
    names = tz.list_tokenizers()
    assert names == sorted(names) and "image-patch-p16" in names and "audio-mulaw-8bit" in names
    assert tz.list_tokenizers(modality="audio") == [
        "audio-dac-16khz",
        "audio-dac-24khz",
        "audio-dac-44khz",
        "audio-encodec-24khz",
        "audio-encodec-24khz-hf",
        "audio-encodec-48khz",
        "audio-mel-128",
        "audio-mel-80",
        "audio-mimi",
        "audio-mulaw-8bit",
        "audio-rvq-16khz",
        "audio-rvq-16khz-six",
        "audio-whisper-encoder",
        "audio-xcodec",
    ]
    assert "image-patch-p16" in tz.list_tokenizers(kind="continuous")
    assert tz.default_tokenizer("image", "continuous") == "image-kl-f8-c16-six"
    assert tz.default_tokenizer("audio") == "audio-rvq-16khz-six"
    assert tz.default_tokenizer("audio", "continuous") == "audio-mel-80"
    assert tz.default_tokenizer("video") == "video-framewise-image-fsq-f8-64k-six"  # the image default's
    assert tz.default_tokenizer("video", "continuous") == "video-framewise-image-kl-f8-c16-six"
    with pytest.raises(ValueError):
        tz.list_tokenizers(modality="text")


def test_unknown_names_raise_typed_errors_with_suggestions(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(tz.UnknownTokenizerError, match="did you mean image-patch-p16") as info:
        tz.load("image-patch-61")
    assert isinstance(info.value, KeyError)
    from tokenizers_zoo import registry

    monkeypatch.delitem(registry._DEFAULTS, ("video", "continuous"))
    with pytest.raises(tz.UnknownTokenizerError, match="no default"):
        tz.default_tokenizer("video", "continuous")


def test_register_custom_tokenizer_and_duplicate_guard() -> None:
    name = "test-patch-4"
    try:
        tz.register(name, PatchTokenizer, {"patch_size": 4}, modality="image", kind="continuous")
        assert name in tz.list_tokenizers(modality="image")
        tok = tz.load(name)
        assert tok.name == name and tok.info.spatial_factor == 4
        with pytest.raises(ValueError, match="already registered"):
            tz.register(name, PatchTokenizer, modality="image", kind="continuous")
        with pytest.raises(TypeError):
            tz.register("bad", dict, modality="image", kind="continuous", overwrite=True)  # type: ignore[arg-type]
    finally:
        tz.registry._ENTRIES.pop(name, None)


class _Learned(tz.ImageTokenizer):
    """A tokenizer with parameters, to exercise weights and checkpoints."""

    from dataclasses import dataclass as _dc

    @_dc(frozen=True)
    class Config:
        width: int = 3

    def __init__(self, config=None, name=None):  # noqa: ANN001
        super().__init__(config or self.Config(), name or "learned")
        self.proj = torch.nn.Linear(3, self.config.width)

    @property
    def info(self) -> tz.TokenizerInfo:
        return tz.TokenizerInfo(self.name, "image", "continuous", latent_dim=self.config.width)

    def encode_tensor(self, x, **options):  # noqa: ANN001, ANN003
        return self.proj(x.permute(0, 2, 3, 1))

    def decode_tensor(self, data, original_size, **options):  # noqa: ANN001, ANN003
        return data[..., :3].permute(0, 3, 1, 2)


def test_save_pretrained_round_trip(tmp_path) -> None:  # noqa: ANN001
    model = _Learned(_Learned.Config(width=5), name="mine")
    model.save_pretrained(tmp_path / "ckpt")
    saved = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert saved["architecture"] == "_Learned" and saved["config"] == {"width": 5}
    loaded = tz.Tokenizer.from_pretrained(tmp_path / "ckpt")
    assert isinstance(loaded, _Learned) and loaded.name == "mine" and not loaded.training
    assert torch.equal(loaded.proj.weight, model.proj.weight)
    assert isinstance(tz.load(str(tmp_path / "ckpt")), _Learned)
    with pytest.raises(tz.CheckpointError, match="not a PatchTokenizer"):
        PatchTokenizer.from_pretrained(tmp_path / "ckpt")


def test_checkpoint_errors_are_clear(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(tz.CheckpointError, match="config.json is missing"):
        tz.Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(tz.CheckpointError, match="not valid JSON"):
        tz.Tokenizer.from_pretrained(tmp_path)
    _Learned(_Learned.Config(width=5)).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(tz.CheckpointError, match="safetensors"):
        tz.Tokenizer.from_pretrained(tmp_path)
    _Learned(_Learned.Config(width=4)).save_pretrained(tmp_path / "other")
    model = _Learned(_Learned.Config(width=5))
    with pytest.raises(tz.CheckpointError, match="wrong shape"):
        model.load_weights(tmp_path / "other" / "model.safetensors")
    meta = json.loads((tmp_path / "config.json").read_text())
    meta["architecture"] = "os.system"
    (tmp_path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(tz.CheckpointError, match="not one of"):
        tz.Tokenizer.from_pretrained(tmp_path)


def test_weights_are_required_for_learned_entries(tmp_path) -> None:  # noqa: ANN001
    name = "test-learned"
    try:
        tz.register(name, _Learned, {"width": 5}, modality="image", kind="continuous")
        with pytest.raises(tz.WeightsNotFoundError, match="needs weights") as info:
            tz.load(name)
        assert isinstance(info.value, FileNotFoundError)
        with pytest.raises(tz.WeightsNotFoundError, match="not found"):
            tz.load(name, weights=tmp_path / "absent.safetensors")
        assert isinstance(tz.load(name, pretrained=False), _Learned)
        trained = _Learned(_Learned.Config(width=5))
        trained.save_pretrained(tmp_path / "w")
        loaded = tz.load(name, weights=tmp_path / "w", dtype=torch.float64)
        assert loaded.proj.weight.dtype == torch.float64
        assert torch.equal(loaded.proj.weight.float(), trained.proj.weight)
        PatchTokenizer().save_pretrained(tmp_path / "patch")
        with pytest.raises(tz.WeightsNotFoundError, match="holds a PatchTokenizer"):
            tz.load(name, weights=tmp_path / "patch")
    finally:
        tz.registry._ENTRIES.pop(name, None)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without a GPU")
def test_missing_gpu_is_a_clear_error() -> None:
    with pytest.raises(tz.DeviceUnavailableError, match="no CUDA GPU"):
        tz.load("image-patch-p16", device="cuda")
    with pytest.raises(tz.DeviceUnavailableError, match="not a device name"):
        tz.load("image-patch-p16", device="gpu0")
    with pytest.raises(tz.DeviceUnavailableError, match="not available"):
        tz.load("image-patch-p16", device="xla")  # a torch device type with no backend module
