"""Adapters of other libraries' pretrained tokenizers, tested as transformers tests its models:
each library model is built from its own config class at a tiny size with random weights,
saved in the library's own format (``save_pretrained``) and loaded through the zoo's path
(``tz.load(NAME, weights=DIR)`` or the Hugging Face cache); our tokens must equal the
library's direct call on the same input (ids exactly, floats within 1e-5 in fp32). The
tiny models keep each entry's rates, factors and codebooks (the facts its info states),
and shrink only the widths. Nothing here downloads."""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_registry_contract import _run  # a script in a fresh Python, run in a scratch folder

import tokenizers_zoo as tz
from tokenizers_zoo.published import HubSource
from tokenizers_zoo.tokenizers.adapters import PretrainedAdapter

transformers = pytest.importorskip("transformers")
diffusers = pytest.importorskip("diffusers")

ADAPTERS = [n for n in tz.list_tokenizers() if issubclass(tz.get_entry(n).architecture, PretrainedAdapter)]


def tiny_vae(latent_channels: int, scaling: float, shift: float | None) -> Any:
    return diffusers.AutoencoderKL(
        block_out_channels=(8, 8, 8, 8),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=latent_channels,
        norm_num_groups=4,
        scaling_factor=scaling,
        shift_factor=shift,
    )


def tiny_cosmos() -> Any:
    return diffusers.AutoencoderKLCosmos(
        encoder_block_out_channels=(8, 8, 8, 8),
        decode_block_out_channels=(8, 8, 8, 8),
        attention_resolutions=(),
        num_layers=1,
        resolution=64,
        latents_mean=None,
        latents_std=None,
    )


def tiny_dac(rate: int, ratios: list[int], books: int) -> Any:
    config = transformers.DacConfig(
        encoder_hidden_size=4,
        decoder_hidden_size=32,
        downsampling_ratios=ratios,
        n_codebooks=books,
        codebook_size=1024,
        codebook_dim=4,
        sampling_rate=rate,
    )
    return transformers.DacModel(config)


def tiny_mimi() -> Any:
    config = transformers.MimiConfig(
        hidden_size=16,
        num_filters=4,
        codebook_dim=8,
        vector_quantization_hidden_dimension=8,
        num_hidden_layers=1,
        intermediate_size=16,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=8,
        upsample_groups=16,
    )
    return transformers.MimiModel(config)


def tiny_encodec() -> Any:
    return transformers.EncodecModel(
        transformers.EncodecConfig(hidden_size=8, num_filters=4, codebook_dim=8, num_lstm_layers=1)
    )


def tiny_xcodec() -> Any:
    acoustic = {"encoder_hidden_size": 4, "decoder_hidden_size": 32, "codebook_dim": 4, "hidden_size": 32}
    semantic = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16}
    semantic = {
        **semantic,
        "conv_dim": [8] * 7,
        "num_conv_pos_embeddings": 16,
        "num_conv_pos_embedding_groups": 2,
    }
    config = transformers.XcodecConfig(
        acoustic_model_config={**acoustic, "downsampling_ratios": [2, 4, 5, 8]},
        semantic_model_config=semantic,
    )
    return transformers.XcodecModel(config)


def tiny_siglip() -> Any:
    """A whole SigLIP, as google/siglip-so400m-patch14-384 holds: the tower is read out of it."""
    vision = {"image_size": 384, "patch_size": 14, "hidden_size": 1152, "intermediate_size": 16}
    text = {"hidden_size": 16, "intermediate_size": 16, "num_attention_heads": 2, "vocab_size": 100}
    config = transformers.SiglipConfig(
        vision_config={**vision, "num_hidden_layers": 1}, text_config={**text, "num_hidden_layers": 1}
    )
    return transformers.SiglipModel(config)


def tiny_clip() -> Any:
    """A whole CLIP, as openai/clip-vit-large-patch14 holds."""
    vision = {"image_size": 224, "patch_size": 14, "hidden_size": 1024, "intermediate_size": 16}
    text = {"hidden_size": 16, "intermediate_size": 16, "vocab_size": 100}
    config = transformers.CLIPConfig(
        vision_config={**vision, "num_hidden_layers": 2, "num_attention_heads": 2},
        text_config={**text, "num_hidden_layers": 1, "num_attention_heads": 2},
        projection_dim=8,
    )
    return transformers.CLIPModel(config)


def tiny_whisper() -> Any:
    ids = {"pad_token_id": 1, "bos_token_id": 1, "eos_token_id": 1, "decoder_start_token_id": 1}
    config = transformers.WhisperConfig(
        num_mel_bins=128,
        d_model=1280,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=8,
        decoder_ffn_dim=8,
        vocab_size=100,
        max_target_positions=8,
        **ids,
    )
    return transformers.WhisperForConditionalGeneration(config)  # what openai/whisper-large-v3 holds


def tiny_emu3() -> Any:
    """A whole Emu3 (a one-layer text model beside the VQ), as BAAI/Emu3-Gen-hf holds."""
    vq = {
        "codebook_size": 32768,
        "embed_dim": 4,
        "latent_channels": 4,
        "base_channels": 32,
        "channel_multiplier": [1, 2, 2, 4],
        "num_res_blocks": 1,
        "attn_resolutions": [],
        "hidden_size": 128,
    }
    # a vocabulary large enough that the text model's embeddings fill shards of their own
    text = {"vocab_size": 20000, "hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 1}
    ids = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
    text = {**text, "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 64, **ids}
    return transformers.Emu3ForConditionalGeneration(
        transformers.Emu3Config(vq_config=vq, text_config=text, vocabulary_map={})
    )


def tiny_chameleon() -> Any:
    """A whole Chameleon, as facebook/chameleon-7b holds."""
    vq = {
        "embed_dim": 8,
        "num_embeddings": 8192,
        "latent_channels": 32,
        "base_channels": 32,
        "channel_multiplier": [1, 1, 2, 2, 4],
        "num_res_blocks": 1,
    }
    text = {"vocab_size": 20000, "hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 1}
    text = {**text, "num_attention_heads": 2, "num_key_value_heads": 2, "pad_token_id": 0}
    return transformers.ChameleonForConditionalGeneration(
        transformers.ChameleonConfig(vq_config=vq, vocabulary_map={}, **text)
    )


def tiny_janus() -> Any:
    """A whole Janus, as deepseek-community/Janus-Pro-1B holds."""
    vq = {
        "embed_dim": 8,
        "num_embeddings": 16384,
        "latent_channels": 32,
        "base_channels": 32,
        "num_res_blocks": 1,
    }
    vq = {**vq, "channel_multiplier": [1, 1, 2, 2, 4], "num_patches": 24, "projection_dim": 8}
    vision = {"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
    text = {"vocab_size": 20000, "hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 1}
    text = {**text, "num_attention_heads": 2, "num_key_value_heads": 2, "pad_token_id": 0}
    config = transformers.JanusConfig(
        vq_config={**vq, "image_token_embed_dim": 8},
        vision_config={**vision, "image_size": 384, "patch_size": 16},
        text_config=text,
    )
    return transformers.JanusForConditionalGeneration(config)


#: entry -> (tiny library model, the folder inside the snapshot the library loads from)
TINY: dict[str, tuple[Callable[[], Any], str]] = {
    "image-sd-vae": (lambda: tiny_vae(4, 0.18215, None), ""),
    "image-sdxl-vae": (lambda: tiny_vae(4, 0.13025, None), ""),
    "image-flux-vae": (lambda: tiny_vae(16, 0.3611, 0.1159), "vae"),
    "video-cosmos-cv8x8x8": (tiny_cosmos, "vae"),
    "audio-dac-16khz": (lambda: tiny_dac(16000, [2, 4, 5, 8], 12), ""),
    "audio-dac-24khz": (lambda: tiny_dac(24000, [2, 4, 5, 8], 32), ""),
    "audio-dac-44khz": (lambda: tiny_dac(44100, [2, 4, 8, 8], 9), ""),
    "audio-mimi": (tiny_mimi, ""),
    "audio-encodec-24khz-hf": (tiny_encodec, ""),
    "audio-xcodec": (tiny_xcodec, ""),
    "image-siglip-so400m": (tiny_siglip, ""),
    "image-clip-vit-l14": (tiny_clip, ""),
    "audio-whisper-encoder": (tiny_whisper, ""),
    "image-emu3-vq": (tiny_emu3, ""),
    "video-emu3-vq": (tiny_emu3, ""),
    "image-chameleon-vq": (tiny_chameleon, ""),
    "image-janus-vq": (tiny_janus, ""),
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Path, Any]]:
    """``saved(name)``: a directory holding the entry's tiny library model (made once), and the model."""
    made: dict[str, tuple[Path, Any]] = {}

    def make(name: str) -> tuple[Path, Any]:
        if name not in made:
            torch.manual_seed(0)
            build, subfolder = TINY[name]
            model = build().eval()
            root = tmp_path_factory.mktemp(name)
            # a whole Emu3, Chameleon or Janus in shards, as on the hub: loading reads only the VQ's
            whole = name in ("image-emu3-vq", "video-emu3-vq", "image-chameleon-vq", "image-janus-vq")
            shards = {"max_shard_size": "500KB"} if whole else {}
            model.save_pretrained(str(root / subfolder if subfolder else root), **shards)
            made[name] = (root, model)
        return made[name]

    return make


def test_every_adapter_entry_has_a_tiny_model_here() -> None:
    assert sorted(TINY) == sorted(ADAPTERS)


@pytest.mark.parametrize("name", sorted(TINY))
def test_static_info_is_the_loaded_models(name: str, saved: Callable) -> None:
    entry = tz.get_entry(name)
    tok = tz.load(name, weights=saved(name)[0])
    assert tok.info == entry.info and entry.description
    source = HubSource.from_config(tok.config)
    assert source.repository and source.revision and source.files and source.licence


@pytest.mark.parametrize("name", ["image-sd-vae", "image-flux-vae"])
def test_vae_latents_are_the_library_posteriors_scaled(name: str, saved: Callable) -> None:
    root, vae = saved(name)
    tok = tz.load(name, weights=root)
    x = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(1)) * 2 - 1
    tokens = tok.encode(x)
    assert tokens.latents.shape == (2, 3, 3, tok.info.latent_dim)
    config = vae.config
    padded = F.pad(x, (0, 0, 0, 4), mode="replicate")  # 20 rows -> 24, edge repeated
    mode = vae.encode(padded).latent_dist.mode()
    expected = (mode - (config.shift_factor or 0.0)) * config.scaling_factor
    torch.testing.assert_close(tokens.latents.permute(0, 3, 1, 2), expected, atol=1e-5, rtol=0)
    decoded = tok.decode(tokens)
    direct = vae.decode(mode).sample.clamp(-1, 1)[..., :20, :24]
    assert decoded.shape == x.shape and decoded.min() >= -1 and decoded.max() <= 1
    torch.testing.assert_close(decoded, direct, atol=1e-5, rtol=0)
    drawn = tok.encode(x, sample=True, seed=3)
    assert drawn.extras == {"sample": True, "seed": 3}
    assert torch.equal(drawn.latents, tok.encode(x, sample=True, seed=3).latents)
    assert not torch.equal(drawn.latents, tokens.latents)


def test_cosmos_latents_are_the_vaes_of_the_clip_padded_to_1_plus_8n_frames(saved: Callable) -> None:
    root, vae = saved("video-cosmos-cv8x8x8")
    tok = tz.load("video-cosmos-cv8x8x8", weights=root)
    clip = torch.rand(2, 3, 6, 20, 24, generator=torch.Generator().manual_seed(11)) * 2 - 1
    tokens = tok.encode(clip)
    assert tokens.latents.shape == (2, 2, 3, 3, 16) and tokens.original_size == (6, 20, 24)
    padded = F.pad(clip, (0, 0, 0, 4, 0, 3), mode="replicate")  # 9 = 1 + 8 frames, 24 rows
    mode = vae.encode(padded).latent_dist.mode()
    torch.testing.assert_close(tokens.latents, mode.permute(0, 2, 3, 4, 1), atol=1e-5, rtol=0)
    decoded = tok.decode(tokens)
    direct = vae.decode(mode).sample.clamp(-1, 1)[:, :, :6, :20, :24]
    assert decoded.shape == clip.shape
    torch.testing.assert_close(decoded, direct, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("audio-dac-16khz", lambda m, x, n: m.encode(x, n_quantizers=n).audio_codes),
        ("audio-dac-44khz", lambda m, x, n: m.encode(x, n_quantizers=n).audio_codes),
        ("audio-mimi", lambda m, x, n: m.encode(x, num_quantizers=n).audio_codes),
    ],
)
def test_codec_ids_are_the_library_codes(name: str, call: Callable, saved: Callable) -> None:
    root, model = saved(name)
    tok = tz.load(name, weights=root)
    rate, hop = tok.info.sample_rate, tok.info.temporal_factor
    samples = 2 * hop + 7  # not a whole number of frames: padded with zeros to 3
    x = 0.1 * torch.randn(2, 1, samples, generator=torch.Generator().manual_seed(2))
    expected = call(model, F.pad(x, (0, 3 * hop - samples)), 4)
    tokens = tok.encode(x, sample_rate=rate, num_codebooks=4)
    assert tokens.extras == {"num_codebooks": 4} and tokens.ids.shape == (2, 4, 3)
    assert torch.equal(tokens.ids, expected)
    assert 0 <= int(tokens.ids.min()) and int(tokens.ids.max()) < tok.info.vocab_size[0]
    full = tok.encode(x, sample_rate=rate)
    assert full.ids.shape[1] == tok.config.default_codebooks
    back = tok.decode(tokens)
    assert back.shape == (2, 1, samples) and torch.isfinite(back).all()
    assert tok.decode(tokens.ids).shape == (2, 1, 3 * hop)  # bare ids: their codebook count says the rate
    with pytest.raises(tz.InvalidMediaError, match="codebooks"):
        tok.encode(x, sample_rate=rate, num_codebooks=tok.info.num_codebooks + 1)


def test_encodec_hf_ids_and_audio_are_the_librarys(saved: Callable) -> None:
    root, model = saved("audio-encodec-24khz-hf")
    tok = tz.load("audio-encodec-24khz-hf", weights=root)
    x = 0.1 * torch.randn(2, 1, 700, generator=torch.Generator().manual_seed(3))
    padded = F.pad(x, (0, 960 - 700))
    encoded = model.encode(padded, bandwidth=3.0)
    tokens = tok.encode(x, sample_rate=24000, bandwidth=3.0)
    assert tokens.ids.shape == (2, 4, 3) and torch.equal(tokens.ids, encoded.audio_codes[0])
    direct = model.decode(encoded.audio_codes, encoded.audio_scales).audio_values[..., :700]
    torch.testing.assert_close(tok.decode(tokens), direct, atol=1e-5, rtol=0)
    assert tok.encode(x, sample_rate=24000).ids.shape[1] == 8  # 6 kbps by default


def test_xcodec_ids_and_audio_are_the_librarys(saved: Callable) -> None:
    root, model = saved("audio-xcodec")
    tok = tz.load("audio-xcodec", weights=root)
    x = 0.1 * torch.randn(2, 1, 3000, generator=torch.Generator().manual_seed(8))
    padded = F.pad(x, (0, 3200 - 3000))
    codes = model.encode(padded, bandwidth=1.0).audio_codes
    tokens = tok.encode(x, sample_rate=16000, bandwidth=1.0)
    assert tokens.ids.shape == (2, 2, 10) and torch.equal(tokens.ids, codes)
    direct = model.decode(codes).audio_values[..., :3000]
    torch.testing.assert_close(tok.decode(tokens), direct, atol=1e-5, rtol=0)
    assert tok.encode(x, sample_rate=16000).ids.shape[1] == 4  # 2 kbps by default
    with pytest.raises(tz.InvalidMediaError, match="kbps"):
        tok.encode(x, sample_rate=16000, bandwidth=3.0)


@pytest.mark.parametrize("name", ["image-siglip-so400m", "image-clip-vit-l14"])
def test_vision_tower_embeddings_are_the_librarys(name: str, saved: Callable) -> None:
    root, model = saved(name)
    tok = tz.load(name, weights=root)
    x = torch.rand(2, 3, 100, 150, generator=torch.Generator().manual_seed(4)) * 2 - 1
    pixels = tok.pixel_values(x)
    size = tok.config.image_size
    assert pixels.shape == (2, 3, size, size)
    tokens = tok.encode(x)
    grid = size // tok.config.patch_size
    assert tokens.latents.shape == (2, grid, grid, tok.info.latent_dim) and tokens.original_size == (100, 150)
    layer = tok.config.feature_layer
    out = model.vision_model(pixel_values=pixels, output_hidden_states=True)
    hidden = out.last_hidden_state if layer is None else out.hidden_states[layer]
    hidden = hidden[:, 1:] if tok.config.class_token else hidden
    torch.testing.assert_close(tokens.latents, hidden.reshape(tokens.latents.shape), atol=1e-5, rtol=0)
    with pytest.raises(tz.EncodeOnlyError, match="only encodes"):
        tok.decode(tokens)


def test_clip_preprocessing_follows_its_image_processor() -> None:
    """Short side resized and the centre cropped, then CLIP's mean/std: within resampling
    rounding of transformers' own processor (PIL's bicubic against torch's)."""
    import numpy as np

    tok = tz.load("image-clip-vit-l14", pretrained=False)
    image = np.random.default_rng(0).integers(0, 256, (100, 150, 3), dtype=np.uint8)
    ours = tok.pixel_values(tz.media.image.to_image_batch(image))
    square = {"height": 224, "width": 224}
    processor = transformers.CLIPImageProcessor(size={"shortest_edge": 224}, crop_size=square)
    theirs = processor(image, return_tensors="pt").pixel_values
    assert ours.shape == theirs.shape and float((ours - theirs).abs().mean()) < 0.02


def test_whisper_embeddings_are_the_encoders(saved: Callable) -> None:
    root, model = saved("audio-whisper-encoder")
    tok = tz.load("audio-whisper-encoder", weights=root)
    x = 0.1 * torch.randn(2, 1, 16000, generator=torch.Generator().manual_seed(5))
    tokens = tok.encode(x, sample_rate=16000)
    assert tokens.latents.shape == (2, 50, 1280)
    extractor = transformers.WhisperFeatureExtractor(feature_size=128)
    features = extractor([item.numpy() for item in x[:, 0]], sampling_rate=16000, return_tensors="pt")
    expected = model.model.encoder(features.input_features).last_hidden_state[:, :50]
    torch.testing.assert_close(tokens.latents, expected, atol=1e-5, rtol=0)
    with pytest.raises(tz.EncodeOnlyError):
        tok.decode(tokens)


def _emu3_input() -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of 30 x 40 images, and Emu3's processor's input for it (padded to 32 rows, CLIP-normalised)."""
    x = torch.rand(2, 3, 30, 40, generator=torch.Generator().manual_seed(6)) * 2 - 1
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    return x, ((F.pad(x, (0, 0, 0, 2), mode="replicate") + 1) / 2 - mean) / std


def _small_images_allowed(tok: tz.Tokenizer) -> tz.Tokenizer:
    """The entry's pixel bounds are Emu3's (512^2 to 1024^2): lowered here, for small test images."""
    tok.config = dataclasses.replace(tok.config, min_pixels=1)
    return tok


def test_emu3_ids_are_the_vq_of_a_whole_emu3_checkpoint(saved: Callable, tmp_path: Path) -> None:
    root, model = saved("image-emu3-vq")
    tok = tz.load("image-emu3-vq", weights=root)
    x, pixels = _emu3_input()
    with pytest.raises(tz.InvalidMediaError, match="262144 to 1048576 pixels"):
        tok.encode(x)
    tokens = _small_images_allowed(tok).encode(x)
    vq = model.model.vqmodel
    expected = torch.stack(vq.encode(pixels, image_sizes=torch.tensor([[32, 40]] * 2)).image_tokens)
    assert tokens.ids.shape == (2, 4, 5) and torch.equal(tokens.ids, expected)
    decoded = tok.decode(tokens)
    assert decoded.shape == x.shape and decoded.min() >= -1 and decoded.max() <= 1
    vq.save_pretrained(str(tmp_path / "vq-alone"))  # the VQ alone, in its own layout, loads too
    alone = _small_images_allowed(tz.load("image-emu3-vq", weights=tmp_path / "vq-alone"))
    assert torch.equal(alone.encode(x).ids, tokens.ids)


def test_emu3_clips_are_the_vq_of_their_frames_in_fours(saved: Callable) -> None:
    root, model = saved("video-emu3-vq")
    tok = _small_images_allowed(tz.load("video-emu3-vq", weights=root))
    clip = torch.rand(2, 3, 6, 32, 40, generator=torch.Generator().manual_seed(10)) * 2 - 1
    tokens = tok.encode(clip, fps=24)
    assert tokens.ids.shape == (2, 2, 4, 5) and tokens.original_size == (6, 32, 40)
    padded = torch.cat([clip, clip[:, :, -1:].expand(-1, -1, 2, -1, -1)], dim=2)  # last frame repeated to 8
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1, 1)
    frames = (((padded + 1) / 2 - mean) / std).permute(0, 2, 1, 3, 4)
    expected = model.model.vqmodel.encode(frames, image_sizes=torch.tensor([[10**6, 10**6]] * 2)).image_tokens
    assert torch.equal(tokens.ids, torch.stack(expected))
    decoded = tok.decode(tokens)
    assert decoded.shape == clip.shape and decoded.min() >= -1 and decoded.max() <= 1


def test_emu3_needs_only_the_shards_of_its_vq(saved: Callable, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """``tzoo fetch`` downloads the config, the index and then only the VQ's shards; the cache
    lookup asks for those, and a missing one is "not cached"."""
    import huggingface_hub

    from tokenizers_zoo.cli import main
    from tokenizers_zoo.published import needed_shards

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    root, _ = saved("image-emu3-vq")
    source = HubSource.from_config(tz.load("image-emu3-vq", pretrained=False).config)
    snapshot = _cache_snapshot(tmp_path, source)
    asked = []

    def download(repo_id: str, *, revision: str, allow_patterns: list[str], cache_dir: Path) -> str:
        asked.append(allow_patterns)
        for file in allow_patterns:
            (snapshot / file).write_bytes((root / file).read_bytes())
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", download)
    assert main(["fetch", "image-emu3-vq"]) == 0
    shards = needed_shards(source, root)
    every = len(list(root.glob("model-*.safetensors")))
    assert asked == [["config.json", "model.safetensors.index.json"], shards] and 0 < len(shards) < every
    x, _ = _emu3_input()
    from_cache = _small_images_allowed(tz.load("image-emu3-vq"))
    assert torch.equal(
        from_cache.encode(x).ids, _small_images_allowed(tz.load("image-emu3-vq", weights=root)).encode(x).ids
    )
    (snapshot / shards[0]).unlink()
    with pytest.raises(tz.WeightsNotFoundError, match="tzoo fetch image-emu3-vq"):
        tz.load("image-emu3-vq")


def test_chameleon_ids_are_the_vq_of_a_whole_chameleon_checkpoint(saved: Callable) -> None:
    root, model = saved("image-chameleon-vq")
    tok = tz.load("image-chameleon-vq", weights=root)
    x = torch.rand(2, 3, 300, 400, generator=torch.Generator().manual_seed(7)) * 2 - 1
    tokens = tok.encode(x)
    assert tokens.ids.shape == (2, 32, 32) and tokens.original_size == (300, 400)
    pixels, _, _ = tok.prepare(x, None)
    assert pixels.shape == (2, 3, 512, 512)
    expected = model.model.vqmodel.encode(pixels).image_tokens.view(2, 32, 32)
    assert torch.equal(tokens.ids, expected)
    with pytest.raises(tz.EncodeOnlyError, match="no decoder"):
        tok.decode(tokens)


def test_janus_ids_are_the_vq_of_a_whole_janus_checkpoint(saved: Callable) -> None:
    root, model = saved("image-janus-vq")
    tok = tz.load("image-janus-vq", weights=root)
    x = torch.rand(2, 3, 300, 400, generator=torch.Generator().manual_seed(9)) * 2 - 1
    pixels, size, _ = tok.prepare(x, None)
    assert pixels.shape == (2, 3, 384, 384) and size == (300, 400)
    assert tok.content_box(300, 400) == (48, 0, 288, 384)  # long side to 384, centred, grey above and below
    assert torch.equal(pixels[..., :48, :], torch.zeros(2, 3, 48, 384))
    tokens = tok.encode(x)
    vq = model.model.vqmodel
    expected = vq.encode(pixels).image_tokens.view(2, 24, 24)
    assert tokens.ids.shape == (2, 24, 24) and torch.equal(tokens.ids, expected)
    decoded = tok.decode(tokens)
    assert decoded.shape == x.shape and decoded.min() >= -1 and decoded.max() <= 1
    square = vq.decode(expected.view(2, -1))
    torch.testing.assert_close(tok.decode(tokens.ids), square.clamp(-1, 1), atol=1e-5, rtol=0)


def test_batches_run_in_the_dtype_asked(saved: Callable) -> None:
    tok = tz.load("image-sd-vae", weights=saved("image-sd-vae")[0], dtype=torch.float64)
    assert tok.encode(torch.zeros(3, 3, 16, 16)).latents.dtype == torch.float64
    dac = tz.load("audio-dac-16khz", weights=saved("audio-dac-16khz")[0], dtype=torch.bfloat16)
    assert dac.encode(torch.zeros(3, 1, 640), sample_rate=16000).ids.shape == (3, 12, 2)


def test_files_of_another_model_are_refused(saved: Callable) -> None:
    """The entry's static facts are checked against the library's config on loading."""
    with pytest.raises(tz.CheckpointError, match="sample_rate is 16000, not 44100"):
        tz.load("audio-dac-44khz", weights=saved("audio-dac-16khz")[0])
    with pytest.raises(tz.CheckpointError, match="latent_channels is 4, not 16"):
        tz.load("image-flux-vae", weights=saved("image-sd-vae")[0])


def test_files_lacking_tensors_are_refused(saved: Callable, tmp_path: Path) -> None:
    """transformers would fill the missing tensors with random ones and only log it."""
    from safetensors.torch import load_file, save_file

    root, _ = saved("audio-dac-16khz")
    (tmp_path / "config.json").write_bytes((root / "config.json").read_bytes())
    state = load_file(str(root / "model.safetensors"))
    dropped = sorted(k for k in state if k.startswith("decoder."))
    save_file({k: v for k, v in state.items() if k not in dropped}, str(tmp_path / "model.safetensors"))
    with pytest.raises(tz.CheckpointError, match=f"lacks {len(dropped)} of DacModel's tensors"):
        tz.load("audio-dac-16khz", weights=tmp_path)


def _cache_snapshot(home: Path, source: HubSource, commit: str = "0" * 40) -> Path:
    """The layout huggingface_hub's cache has after a download of ``source``: a pinned commit
    is its own snapshot folder with no ref; a branch's ref names ``commit``'s snapshot."""
    repo = home / "hub" / f"models--{source.repository.replace('/', '--')}"
    if is_commit(source.revision):
        commit = source.revision
    else:
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / source.revision).write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    return snapshot


def is_commit(revision: str) -> bool:
    return re.fullmatch(r"[0-9a-f]{40}", revision) is not None


def test_weights_in_the_hf_cache_are_found(saved: Callable, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    root, model = saved("image-flux-vae")
    source = HubSource.from_config(tz.load("image-flux-vae", pretrained=False).config)
    snapshot = _cache_snapshot(tmp_path, source)
    (snapshot / "vae").symlink_to(root / "vae", target_is_directory=True)
    tok = tz.load("image-flux-vae")
    x = torch.zeros(1, 3, 8, 8)
    assert torch.equal(tok.encode(x).latents, tz.load("image-flux-vae", weights=root).encode(x).latents)


def test_a_pinned_entry_takes_only_its_commit_from_the_cache(
    saved: Callable,
    tmp_path: Path,
    monkeypatch,  # noqa: ANN001
) -> None:
    """A cache that holds the repository at another commit (what ``main`` was when some other
    tool downloaded it) is not the pinned model: loading says to fetch the pinned one."""
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    root, _ = saved("audio-dac-16khz")
    source = HubSource.from_config(tz.load("audio-dac-16khz", pretrained=False).config)
    assert is_commit(source.revision)
    elsewhere = _cache_snapshot(tmp_path, dataclasses.replace(source, revision="main"), commit="2" * 40)
    for file in source.files:
        (elsewhere / file).write_bytes((root / file).read_bytes())
    with pytest.raises(tz.WeightsNotFoundError, match=f"revision {source.revision}"):
        tz.load("audio-dac-16khz")


def test_the_readme_table_gives_each_entrys_revision_and_licence() -> None:
    """The adapters table of the README is what the entries pin and say: a full 40-hex commit
    (shown by its first 12) or a branch marked as not pinned, and the entry's licence."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("## Pretrained tokenizers from other libraries") :]
    rows = {line.split("`")[1]: line for line in section.splitlines() if line.startswith("| `")}
    for name in ADAPTERS:
        source = HubSource.from_config(tz.load(name, pretrained=False).config)
        cells = [cell.strip() for cell in rows[name].strip("|").split("|")]
        shown = re.search(r"at `(\w+)`", cells[3])
        assert shown is not None, rows[name]
        if is_commit(source.revision):
            assert len(shown.group(1)) == 12 and source.revision.startswith(shown.group(1)), name
        else:
            assert shown.group(1) == source.revision and "not pinned" in cells[3], name
        assert cells[4] == source.licence, name


def test_offline_with_nothing_cached_says_what_to_fetch(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    with pytest.raises(tz.WeightsNotFoundError) as caught:
        tz.load("audio-mimi")
    message = str(caught.value)
    pinned = f"revision {tz.load('audio-mimi', pretrained=False).config.revision}"
    for part in ("kyutai/mimi", pinned, "config.json", "model.safetensors", "tzoo fetch audio-mimi"):
        assert part in message
    assert "HF_HUB_OFFLINE" in message
    with pytest.raises(tz.WeightsNotFoundError, match="holds no weights for audio-mimi"):
        tz.load("audio-mimi", weights=tmp_path)


def test_tzoo_fetch_downloads_the_pinned_files_where_loading_finds_them(
    saved: Callable,
    tmp_path: Path,
    monkeypatch,  # noqa: ANN001
    capsys,  # noqa: ANN001
) -> None:
    import huggingface_hub

    from tokenizers_zoo.cli import main

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    root, _ = saved("audio-dac-16khz")
    calls = []

    def download(repo_id: str, *, revision: str, allow_patterns: list[str], cache_dir: Path) -> str:
        calls.append((repo_id, revision, allow_patterns, Path(cache_dir)))
        source = HubSource(repo_id, revision, tuple(allow_patterns), "")
        snapshot = _cache_snapshot(tmp_path, source)
        for file in allow_patterns:
            (snapshot / file).write_bytes((root / file).read_bytes())
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", download)
    with pytest.raises(tz.WeightsNotFoundError, match="tzoo fetch audio-dac-16khz"):
        tz.load("audio-dac-16khz")
    assert main(["fetch", "audio-dac-16khz"]) == 0
    pinned = tz.load("audio-dac-16khz", pretrained=False).config.revision
    assert is_commit(pinned)
    assert calls == [("descript/dac_16khz", pinned, ["config.json", "model.safetensors"], tmp_path / "hub")]
    assert "descript/dac_16khz" in capsys.readouterr().out
    assert tz.load("audio-dac-16khz").info.name == "audio-dac-16khz"
    assert main(["fetch", "image-fsq-f8-4k"]) == 2  # ships its weights: nothing to fetch


def test_built_without_weights_says_how_to_load() -> None:
    tok = tz.load("audio-mimi", pretrained=False)
    with pytest.raises(tz.WeightsNotFoundError, match="pretrained=False"):
        tok.encode(torch.zeros(1, 1, 1920), sample_rate=24000)
    with pytest.raises(tz.CheckpointError, match="save the library model itself"):
        tok.save_pretrained("unused")


def test_a_missing_extra_names_it(saved: Callable, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import diffusers now fails
    with pytest.raises(tz.MissingExtraError, match=r"tokenizers-zoo\[hf\]"):
        tz.load("image-sd-vae", weights=saved("image-sd-vae")[0])


def test_tzoo_list_all_says_which_weights_are_cached_without_torch(tmp_path: Path) -> None:
    source = HubSource.from_config(tz.load("audio-mimi", pretrained=False).config)
    snapshot = _cache_snapshot(tmp_path, source)
    for file in source.files:
        (snapshot / file).write_bytes(b"")
    script = f"""
        import os, sys
        os.environ["HF_HOME"] = {str(tmp_path)!r}
        from tokenizers_zoo.cli import main
        assert main(["list", "--all"]) == 0
        print("IMPORTED", sorted(m for m in ("torch", "transformers", "diffusers") if m in sys.modules))
    """
    done = _run(script, tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {line[2:].split()[0]: line for line in done.stdout.splitlines() if line.startswith(("*", " "))}
    assert rows["audio-mimi"].endswith("[cached]")
    assert rows["audio-dac-16khz"].endswith("[not cached: tzoo fetch audio-dac-16khz]")
    assert not rows["image-fsq-f8-4k"].endswith("]")
    assert "IMPORTED []" in done.stdout


def test_listing_imports_none_of_the_optional_libraries(tmp_path: Path) -> None:
    """The registry, every adapter's info and ``tzoo list`` never import transformers,
    diffusers or huggingface_hub: only loading an adapter does."""
    script = """
        import sys
        import tokenizers_zoo as tz
        from tokenizers_zoo.cli import main
        infos = [tz.get_entry(name).info for name in tz.list_tokenizers()]
        assert main(["list"]) == 0 and main(["info", "audio-mimi"]) == 0
        tz.load("audio-mimi", pretrained=False)
        optional = ("transformers", "diffusers", "huggingface_hub")
        print("IMPORTED", sorted(m for m in optional if m in sys.modules))
    """
    done = _run(script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "IMPORTED []" in done.stdout


def test_the_readme_example_runs_as_printed(tmp_path: Path) -> None:
    """The Python block of "Pretrained tokenizers from other libraries" prints what its comments say."""
    import re

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("## Pretrained tokenizers from other libraries") :]
    example = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    done = _run(example, tmp_path)
    assert done.returncode == 0, done.stderr
    printed = [line.split("# ")[1] for line in example.splitlines() if line.startswith("print(")]
    assert done.stdout.splitlines() == printed


def test_the_service_serves_embeddings_and_refuses_to_decode_them(saved: Callable, tmp_path: Path) -> None:
    """``tzoo serve --tokenizers image-siglip-so400m --weights-dir DIR``: encode answers the
    embedding tokens as JSON or ``.npy``; decode a 422 that says the tokenizer only encodes."""
    import io

    import httpx
    import numpy as np
    from service_helpers import assert_problem, png, running

    from tokenizers_zoo.service.app import create_app
    from tokenizers_zoo.service.settings import ServiceSettings

    name = "image-siglip-so400m"
    (tmp_path / name).symlink_to(saved(name)[0], target_is_directory=True)
    settings = ServiceSettings(tokenizers=(name,), weights_dir=str(tmp_path))
    with running(create_app(settings), ready=True) as server, httpx.Client(base_url=server.url) as http:
        url = f"/v1/tokenizers/{name}/encode"
        as_json = http.post(url, content=png(40, 56), headers={"Content-Type": "image/png"})
        assert as_json.status_code == 200, as_json.text[:300]
        body = as_json.json()
        assert body["kind"] == "continuous" and body["shape"] == [1, 27, 27, 1152]
        npy = http.post(
            url, content=png(40, 56), headers={"Content-Type": "image/png", "Accept": "application/x-npy"}
        )
        assert np.load(io.BytesIO(npy.content)).shape == (1, 27, 27, 1152)
        decoded = http.post(f"/v1/tokenizers/{name}/decode", json=body)
        assert "only encodes" in assert_problem(decoded, 422, "encode-only")["detail"]


# -- Every entry from a local directory, through tz.load, tzoo and the service ----------------

#: The entries with no decoder: ``tzoo decode`` fails with one line, the service with a 422.
ENCODE_ONLY = {"image-chameleon-vq", "image-siglip-so400m", "image-clip-vit-l14", "audio-whisper-encoder"}


@pytest.fixture
def small_emu3(monkeypatch: pytest.MonkeyPatch) -> None:
    """Emu3's entries refuse images under 512 x 512 pixels (the range it was trained in):
    lowered in the registry, so tz.load, tzoo and the service all take the small test media."""
    for name in ("image-emu3-vq", "video-emu3-vq"):
        monkeypatch.setitem(tz.get_entry(name).config, "min_pixels", 1)


def _media_file(name: str, folder: Path) -> tuple[Path, str]:
    """One small file ``name`` takes, and its media type: a 40 x 56 PNG, 0.1 s of WAV at the
    entry's rate, or an mp4 of 5 frames of 24 x 32 (Emu3: 4 of 32 x 40, one token step)."""
    import numpy as np

    from tokenizers_zoo.media import save_video, write_image, write_wav

    rng = np.random.default_rng(0)
    info = tz.get_entry(name).info
    if info.modality == "image":
        path = folder / "in.png"
        path.write_bytes(write_image(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)))
        return path, "image/png"
    if info.modality == "audio":
        rate = info.sample_rate
        t = np.arange(rate // 10) / rate
        path = folder / "in.wav"
        path.write_bytes(write_wav((0.4 * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32), rate))
        return path, "audio/wav"
    frames, height, width = (4, 32, 40) if "emu3" in name else (5, 24, 32)
    path = folder / "in.mp4"
    save_video(rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8), 10.0, path)
    return path, "video/mp4"


def _library_tokens(tok: tz.Tokenizer, path: Path) -> tz.Tokens:
    """``tok.encode`` of the file as its reader gives it (the file's rate with it)."""
    modality = tok.info.modality
    if modality == "image":
        return tok.encode(tz.media.read_image(path.read_bytes()))
    if modality == "audio":
        wave, rate = tz.media.read_audio(path)
        return tok.encode(wave, sample_rate=rate)
    frames, fps = tz.media.read_video(path)
    return tok.encode(frames, fps=fps)


def _assert_same_tokens(got: Any, want: Any) -> None:
    """Two ``EncodedTokens``: the same array (dtype and values, exactly) and metadata."""
    import numpy as np

    assert got.data.dtype == want.data.dtype and np.array_equal(got.data, want.data)
    for field in ("tokenizer", "kind", "original_size", "sample_rate", "extras"):
        assert getattr(got, field) == getattr(want, field), field


def _rendered(tok: tz.Tokenizer, encoded: Any, kind: str) -> bytes:
    """The file of ``tok.decode`` of tokens read back (a file's, a body's; one item), as
    ``tzoo decode`` and the service write it. Decoded from what was read, not from ``encode``'s
    own tensors: a VAE's latents come out of encode as a permuted view, and the decoder's
    convolutions on other strides round differently (1e-6), enough to move a pixel's byte."""
    from tokenizers_zoo.media.files import media_arrays, render_media

    tokens = tok.tokens_from(encoded)
    (item,) = media_arrays(tok.info.modality, tok.decode(tokens))
    rate = tokens.sample_rate or tok.info.sample_rate
    return render_media(tok.info.modality, item, kind, rate, tokens.extras.get("fps"))


def _assert_same_media(got: bytes, want: bytes, media_type: str) -> None:
    """The file a command or the service wrote is ``want``'s bytes, or the same media where a
    decoder's float rounding (another torch thread count, a batch) moved a value by one
    step: then H.264 or PNG bytes differ though the frames agree, so compare those."""
    from tokenizers_zoo.media.audio import read_audio
    from tokenizers_zoo.media.image import read_image
    from tokenizers_zoo.media.video import read_video

    if got == want:
        return
    if media_type.startswith("video/"):
        container = media_type.split("/")[1]  # video/mp4, video/webm
        (frames, fps), (expected, expected_fps) = read_video(got, container), read_video(want, container)
        assert fps == expected_fps and frames.shape == expected.shape
        assert np.abs(frames.astype(np.int16) - expected).mean() < 0.5
    elif media_type.startswith("image/"):
        image, expected = read_image(got), read_image(want)
        assert image.shape == expected.shape and np.abs(image.astype(np.int16) - expected).max() <= 1
    else:
        (audio, rate), (expected, expected_rate) = read_audio(got), read_audio(want)
        assert rate == expected_rate and audio.shape == expected.shape
        np.testing.assert_allclose(audio, expected, rtol=0, atol=2 / 32768)


def test_every_entry_with_no_decoder_is_listed_encode_only() -> None:
    assert ENCODE_ONLY <= set(ADAPTERS)


@pytest.mark.usefixtures("small_emu3")
@pytest.mark.parametrize("name", sorted(TINY))
def test_tzoo_encode_and_decode_from_a_local_directory(
    name: str,
    saved: Callable,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """``tzoo encode NAME --weights DIR`` writes ``tz.load(NAME, weights=DIR).encode``'s tokens;
    ``tzoo decode`` writes the file of their decoding, or for an entry with no decoder exits 2
    with one line on stderr."""
    from tokenizers_zoo.cli import main
    from tokenizers_zoo.wire import load_tokens

    root = saved(name)[0]
    source, media_type = _media_file(name, tmp_path)
    verbosity = (transformers.logging.get_verbosity(), diffusers.utils.logging.get_verbosity())
    tok = tz.load(name, weights=root)
    assert (transformers.logging.get_verbosity(), diffusers.utils.logging.get_verbosity()) == verbosity
    want = _library_tokens(tok, source)
    out = tmp_path / "tokens.npy"
    capfd.readouterr()
    assert main(["encode", name, "--weights", str(root), str(source), "-o", str(out)]) == 0
    printed = capfd.readouterr()
    assert printed.out.startswith(f"{source} -> {tok.info.kind} tokens") and not printed.err  # no load report
    written = load_tokens(out)
    _assert_same_tokens(written, want.to_encoded())
    decoded = tmp_path / f"out{source.suffix}"
    code = main(["decode", name, "--weights", str(root), str(out), "-o", str(decoded)])
    err = capfd.readouterr().err
    if name in ENCODE_ONLY:
        assert code == 2 and not decoded.exists()
        (line,) = err.splitlines()  # the error alone: no traceback, nor the library's load report
        assert line.startswith(f"tzoo: error: {name} only encodes: ")
        with pytest.raises(tz.EncodeOnlyError):
            tok.decode(want)
        return
    assert code == 0, err
    _assert_same_media(decoded.read_bytes(), _rendered(tok, written, media_type), media_type)


@pytest.mark.usefixtures("small_emu3")
@pytest.mark.parametrize("name", sorted(TINY))
def test_the_service_serves_every_entry_from_a_weights_dir(
    name: str, saved: Callable, tmp_path: Path
) -> None:
    """``tzoo serve --tokenizers NAME --weights-dir DIR`` with the library's files in
    ``DIR/NAME/``: encode answers ``tz.load``'s tokens and decode the file of their decoding,
    or a 422 encode-only problem for an entry with no decoder."""
    import httpx
    from service_helpers import assert_problem, running

    from tokenizers_zoo.service.app import create_app
    from tokenizers_zoo.service.settings import ServiceSettings
    from tokenizers_zoo.wire import EncodedTokens

    root = saved(name)[0]
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / name).symlink_to(root, target_is_directory=True)
    source, media_type = _media_file(name, tmp_path)
    tok = tz.load(name, weights=root)
    want = _library_tokens(tok, source)
    settings = ServiceSettings(tokenizers=(name,), weights_dir=str(tmp_path / "weights"))
    with running(create_app(settings), ready=True) as server, httpx.Client(base_url=server.url) as http:
        encoded = http.post(
            f"/v1/tokenizers/{name}/encode", content=source.read_bytes(), headers={"Content-Type": media_type}
        )
        assert encoded.status_code == 200, encoded.text[:300]
        answered = EncodedTokens.from_json(encoded.json())
        _assert_same_tokens(answered, want.to_encoded())
        decoded = http.post(
            f"/v1/tokenizers/{name}/decode", json=encoded.json(), headers={"Accept": media_type}
        )
    if name in ENCODE_ONLY:
        assert "only encodes" in assert_problem(decoded, 422, "encode-only")["detail"]
        return
    assert decoded.status_code == 200, decoded.text[:300]
    assert decoded.headers["content-type"] == media_type
    _assert_same_media(decoded.content, _rendered(tok, answered, media_type), media_type)


def test_tzoo_encode_refuses_emu3_out_of_its_pixel_range_in_one_line(
    saved: Callable, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The registered bounds (512^2 to 1024^2 pixels) hold in tzoo: a small image exits 2 with
    the range in one line."""
    from tokenizers_zoo.cli import main

    root = saved("image-emu3-vq")[0]
    source, _ = _media_file("image-emu3-vq", tmp_path)
    capfd.readouterr()
    argv = ["encode", "image-emu3-vq", "--weights", str(root), str(source), "-o", str(tmp_path / "t.npy")]
    assert main(argv) == 2
    (line,) = capfd.readouterr().err.splitlines()
    assert line.startswith("tzoo: error: ") and "262144 to 1048576 pixels" in line and "40 x 56" in line


def test_bench_recon_compares_an_adapter_in_the_cache_with_a_native_tokenizer(
    saved: Callable,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The README's ``tzoo bench recon --tokenizer image-sd-vae,image-kl-f8-c16`` with a tiny random
    SD-VAE where ``tzoo fetch`` puts the published one (bench recon takes names: an adapter's
    weights come from the cache). It runs end to end; the numbers of random weights mean nothing."""
    import json

    import numpy as np

    from tokenizers_zoo.benchmarks import rfid
    from tokenizers_zoo.cli import main
    from tokenizers_zoo.media import write_image

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv(rfid.FID_WEIGHTS_ENV, raising=False)
    monkeypatch.delenv("TZOO_LPIPS_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch-hub"))  # no FID weights
    root, _ = saved("image-sd-vae")
    source = HubSource.from_config(tz.load("image-sd-vae", pretrained=False).config)
    snapshot = _cache_snapshot(tmp_path / "hf", source)
    for file in source.files:
        (snapshot / file).symlink_to(root / file)
    (tmp_path / "photos").mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        (tmp_path / "photos" / f"{i}.png").write_bytes(write_image(pixels))
    out = tmp_path / "recon-sd"
    argv = [
        "bench",
        "recon",
        "--tokenizer",
        "image-sd-vae,image-kl-f8-c16",
        "--data",
        str(tmp_path / "photos"),
    ]
    code = main([*argv, "--size", "32", "--torch-threads", "1", "--out", str(out)])
    assert code == 0, capfd.readouterr().err
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert [run["label"] for run in runs] == ["image-sd-vae", "image-kl-f8-c16"]
    for run in runs:
        assert run["kind"] == "continuous" and len(run["samples"]) == 2
        assert all(row["height"] == row["width"] == 32 and row["psnr"] > 0 for row in run["samples"])
    assert "| image-sd-vae |" in (out / "results.md").read_text()
