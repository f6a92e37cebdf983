"""The training recipe: config parsing, a smoke run, exact resume, LPIPS and the critic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import save_file

import tokenizers_zoo as tz
from tokenizers_zoo.training.config import ConfigError, load_config
from tokenizers_zoo.training.data import RandomCrops, eval_tiles
from tokenizers_zoo.training.losses import (
    LPIPS,
    PatchDiscriminator,
    hinge_discriminator_loss,
    hinge_generator_loss,
    load_lpips,
)
from tokenizers_zoo.training.train import STATE_FILE, train

REPO = Path(__file__).resolve().parents[1]


def make_images(folder: Path, count: int, size: tuple[int, int], seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        y, x = np.mgrid[0 : size[0], 0 : size[1]]
        base = rng.uniform(0, 255, 3)
        image = (base + 40 * np.sin(x[..., None] / rng.uniform(3, 9)) + 30 * np.cos(y[..., None] / 5)).clip(
            0, 255
        )
        Image.fromarray(image.astype(np.uint8)).save(folder / f"img{i}.png")


def write_config(tmp_path: Path, **overrides: object) -> Path:
    make_images(tmp_path / "train", 3, (40, 48), seed=0)
    make_images(tmp_path / "eval", 1, (32, 32), seed=1)
    config = {
        "name": "tiny-fsq",
        "model": {
            "architecture": "ConvImageTokenizer",
            "config": {
                "bottleneck": "fsq",
                "bottleneck_args": {"levels": [5, 3]},
                "latent_channels": 2,
                "channels": 8,
                "channel_mult": [1, 2],
                "norm_groups": 4,
            },
        },
        "data": {
            "train": str(tmp_path / "train"),
            "eval": str(tmp_path / "eval"),
            "crop": 32,
            "batch_size": 2,
            "eval_size": 16,
        },
        "optim": {"lr": 1e-3, "warmup_steps": 2, "max_steps": 6},
        "loss": {"adversarial": 0.1, "disc_start": 2},
        "run": {
            "dir": str(tmp_path / "run"),
            "threads": 1,
            "log_every": 1,
            "eval_every": 3,
            "checkpoint_every": 2,
        },
    }
    for key, value in overrides.items():
        section, field = key.split("__")
        config[section][field] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_committed_configs_parse_and_build() -> None:
    from tokenizers_zoo.training.train import build_model

    for path in sorted((REPO / "configs").glob("*.yaml")):
        cfg = load_config(path)
        model = build_model(cfg)
        assert model.name == cfg.name == path.stem
        assert cfg.name in tz.list_tokenizers(modality=model.info.modality)
    for path in sorted((REPO / "configs" / "recipes").glob("*.yaml")):  # not registered (yet)
        assert build_model(load_config(path)).name == path.stem


def test_held_out_audio_is_sampled_across_every_voice(tmp_path: Path) -> None:
    from tokenizers_zoo.media.audio import write_wav
    from tokenizers_zoo.training.audio_data import eval_clips

    for voice, level in (("a-voice", 0.1), ("b-voice", 0.2), ("c-voice", 0.3)):
        (tmp_path / voice).mkdir()
        for i in range(4):
            tone = np.full((1, 800), level, np.float32)
            (tmp_path / voice / f"{i}.wav").write_bytes(write_wav(tone, 16000))
    levels = [round(float(clip.mean()), 1) for clip in eval_clips(tmp_path, 16000, limit=3)]
    assert levels == [0.1, 0.2, 0.3]
    assert len(eval_clips(tmp_path, 16000)) == 12


def test_config_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    path = write_config(tmp_path, optim__learning_rate=1.0)
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(path)


def test_smoke_run_exports_a_loadable_tokenizer(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path))
    export = train(cfg)
    log = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    evals = [json.loads(line)["eval"] for line in log if '"eval"' in line]
    assert len(evals) == 2  # at steps 3 and 6
    assert all(e["colour_error"] > 0 and e["psnr"] < 99 for e in evals)  # 6 steps: far from exact
    assert '"adversarial"' in log[-2] or '"adversarial"' in log[-1]
    tok = tz.load(str(export))
    tokens = tok.encode(torch.rand(1, 3, 10, 14) * 2 - 1)
    assert tok.decode(tokens).shape == (1, 3, 10, 14)


def test_resume_is_exact(tmp_path: Path) -> None:
    straight = load_config(write_config(tmp_path / "a"))
    train(straight)
    split = load_config(write_config(tmp_path / "b"))
    train(split, steps=4)
    state = torch.load(tmp_path / "b" / "run" / STATE_FILE, weights_only=True)
    assert state["step"] == 4
    train(split)  # resumes at 4, runs to 6
    a = torch.load(tmp_path / "a" / "run" / STATE_FILE, weights_only=True)
    b = torch.load(tmp_path / "b" / "run" / STATE_FILE, weights_only=True)
    assert a["step"] == b["step"] == 6
    for key in ("model", "ema", "critic"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), (key, name)


def test_crops_depend_only_on_seed_and_step(tmp_path: Path) -> None:
    make_images(tmp_path / "imgs", 2, (30, 40), seed=3)
    one = RandomCrops(tmp_path / "imgs", 16, seed=7)
    two = RandomCrops(tmp_path / "imgs", 16, seed=7)
    assert torch.equal(one.batch(5, 4), two.batch(5, 4))
    assert not torch.equal(one.batch(5, 4), one.batch(6, 4))
    batch = one.batch(0, 3)
    assert batch.shape == (3, 3, 16, 16) and batch.min() >= -1 and batch.max() <= 1
    assert eval_tiles(tmp_path / "imgs", 16).shape == (2 * 1 * 2, 3, 16, 16)
    with pytest.raises(ValueError, match="at least 64"):
        RandomCrops(tmp_path / "imgs", 64)


def test_lpips_loads_from_a_local_file_and_is_a_distance(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert load_lpips(None) is None and "LPIPS" in capsys.readouterr().out
    assert load_lpips(tmp_path / "missing.safetensors") is None and "not found" in capsys.readouterr().out
    from torchvision.models import vgg16

    torch.manual_seed(0)
    features = vgg16().features[:30]
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    for i, width in enumerate(LPIPS._WIDTHS):
        state[f"lin{i}.weight"] = torch.rand(1, width, 1, 1)
    save_file(state, str(tmp_path / "lpips.safetensors"))
    lpips = load_lpips(tmp_path / "lpips.safetensors")
    assert isinstance(lpips, LPIPS)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert float(lpips(x, x)) == 0.0
    assert float(lpips(x, -x)) > 0.0


def test_hinge_losses_and_patch_critic() -> None:
    critic = PatchDiscriminator(channels=8, layers=2)
    logits = critic(torch.zeros(2, 3, 32, 32))
    assert logits.ndim == 4 and logits.shape[1] == 1 and logits.shape[-1] > 1
    high, low = torch.full((4,), 2.0), torch.full((4,), -2.0)
    assert float(hinge_discriminator_loss(high, low)) == 0.0
    assert float(hinge_discriminator_loss(low, high)) == 3.0
    assert float(hinge_generator_loss(high)) == -2.0


def test_init_from_an_export_continues_at_its_step(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path / "a"))
    export = train(cfg, steps=4)
    meta = (export / "config.json").read_text()
    assert '"step": 4' in meta
    other = load_config(write_config(tmp_path / "b"))
    train(other, init_from=export)
    state = torch.load(tmp_path / "b" / "run" / STATE_FILE, weights_only=True)
    assert state["step"] == 6
    log = (tmp_path / "b" / "run" / "log.jsonl").read_text().splitlines()
    assert '"step": 5' in log[0]  # the first logged step follows the export's


def write_audio_config(tmp_path: Path) -> Path:
    from tokenizers_zoo.media.audio import write_wav

    rng = np.random.default_rng(0)
    for split, count in (("train", 3), ("eval", 1)):
        (tmp_path / split).mkdir(parents=True)
        for i in range(count):
            t = np.arange(8000) / 16000
            tone = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.01 * rng.standard_normal(8000)
            (tmp_path / split / f"clip{i}.wav").write_bytes(write_wav(tone[None].astype(np.float32), 16000))
    config = {
        "name": "tiny-codec",
        "model": {
            "architecture": "NeuralAudioCodec",
            "config": {
                "channels": 4,
                "ratios": [2, 2],
                "dilations": [1],
                "latent_dim": 8,
                "num_quantizers": 4,
                "codebook_size": 16,
                "bandwidths": [16.0, 32.0, 64.0],
            },
        },
        "data": {
            "train": str(tmp_path / "train"),
            "eval": str(tmp_path / "eval"),
            "segment_seconds": 0.15,
            "batch_size": 2,
        },
        "optim": {"lr": 1e-3, "warmup_steps": 2, "max_steps": 4},
        "loss": {"mel": 1.0, "stft": 1.0, "adversarial": 0.1, "feature_matching": 0.2, "disc_start": 2},
        "run": {
            "dir": str(tmp_path / "run"),
            "threads": 1,
            "log_every": 1,
            "eval_every": 4,
            "checkpoint_every": 2,
        },
    }
    path = tmp_path / "audio.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_audio_codec_trains_resumes_exactly_and_reports_speech_metrics(tmp_path: Path) -> None:
    straight = load_config(write_audio_config(tmp_path / "a"))
    export = train(straight)
    split = load_config(write_audio_config(tmp_path / "b"))
    train(split, steps=2)
    train(split)
    a = torch.load(tmp_path / "a" / "run" / STATE_FILE, weights_only=True)
    b = torch.load(tmp_path / "b" / "run" / STATE_FILE, weights_only=True)
    for key in ("model", "ema", "critic"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), (key, name)
    log = [json.loads(line) for line in (tmp_path / "a" / "run" / "log.jsonl").read_text().splitlines()]
    assert {"mel", "stft", "adversarial", "feature_matching"} <= set(log[-2])
    assert {"pesq", "stoi", "si_snr", "mel_distance", "real_time_factor"} <= set(log[-1]["eval"])
    codec = tz.load(str(export))
    tokens = codec.encode(np.zeros(100, np.float32), sample_rate=16000, bandwidth=32.0)
    assert tokens.shape == (1, 2, 25)
