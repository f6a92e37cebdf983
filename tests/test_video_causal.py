"""The causal 3-D video tokenizer: the T = 1 + n * 4 rule, an image as a one-frame video,
windows and streams equal to the whole clip, checkpoints, and its training task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import tokenizers_zoo as tz
from tokenizers_zoo import registry
from tokenizers_zoo.errors import InvalidMediaError
from tokenizers_zoo.tokenizers import CausalVideoTokenizer, ConvImageTokenizer
from tokenizers_zoo.tokenizers.video import CausalVideoConfig

TINY = {
    "bottleneck": "fsq",
    "bottleneck_args": {"levels": [5, 3]},
    "latent_channels": 2,
    "channels": 8,
    "channel_mult": [1, 2, 2],
    "norm_groups": 4,
}


def _clip(frames: int, height: int = 24, width: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, frames, height, width, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture(scope="module")
def tiny() -> CausalVideoTokenizer:
    """Random weights, time / 4 and space / 4 (both stages of a three-level model halve
    time), windows of 4 frames."""
    torch.manual_seed(0)
    return CausalVideoTokenizer(CausalVideoConfig(**TINY, window_frames=4)).eval()


@pytest.fixture(scope="module")
def inflated() -> CausalVideoTokenizer:
    return CausalVideoTokenizer.inflated(tz.load("image-fsq-f8-4k"))


@pytest.mark.parametrize(("frames", "latent"), [(1, 1), (2, 2), (5, 2), (6, 3), (9, 3)])
def test_frames_pad_to_one_plus_n_times_the_factor_and_crop_back(
    tiny: CausalVideoTokenizer, frames: int, latent: int
) -> None:
    assert tiny.info.temporal_factor == 4 and tiny.padded_frames(frames) == 1 + 4 * (latent - 1)
    tokens = tiny.encode(_clip(frames, 20, 30))
    assert tokens.shape == (1, latent, 5, 8) and tokens.original_size == (frames, 20, 30)
    assert tiny.decode(tokens).shape == (1, 3, frames, 20, 30)
    assert tiny.size_from_token_shape((latent, 5, 8)) == (1 + 4 * (latent - 1), 20, 32)


@pytest.mark.parametrize("image_name", ["image-fsq-f8-4k", "image-fsq-f8-64k"])
def test_an_image_is_a_one_frame_video_with_the_image_tokenizers_ids(image_name: str) -> None:
    """For both discrete image entries (the 64k entry projects 16 latent channels to FSQ's
    6 and back, the 4k quantizes its 5 directly), an image is a one-frame video."""
    image = tz.load(image_name)
    inflated = CausalVideoTokenizer.inflated(image)
    photo = tz.media.to_image_batch(
        np.asarray(
            tz.media.read_image((Path(tz.__file__).parent / "samples" / "coffee_256.png").read_bytes())
        )
    )
    photo = photo[:, :, :96, :128]
    expected = image.encode(photo).ids
    assert torch.equal(inflated.encode(photo[:, :, None]).ids[:, 0], expected)
    clip = torch.cat([photo[:, :, None], _clip(4, 96, 128)], dim=2)  # later frames do not reach frame 0
    assert torch.equal(inflated.encode(clip).ids[:, 0], expected)
    assert inflated.info.vocab_size == image.info.vocab_size
    torch.testing.assert_close(
        inflated.decode(inflated.encode(photo[:, :, None]))[:, :, 0],
        image.decode(image.encode(photo)),
        rtol=0,
        atol=1e-4,
    )


def test_continuous_inflation_gives_the_image_latents() -> None:
    image = tz.load("image-kl-f8-c16")
    video = CausalVideoTokenizer.inflated(image)
    frame = _clip(1, 32, 48)
    torch.testing.assert_close(
        video.encode(frame).latents[:, 0], image.encode(frame[:, :, 0]).latents, rtol=0, atol=1e-4
    )


def test_windows_and_streams_give_the_whole_clips_tokens(tiny: CausalVideoTokenizer) -> None:
    clip = _clip(14)  # padded to 17: windows of 5, 4, 4 and 4 frames
    whole = CausalVideoTokenizer(CausalVideoConfig(**TINY, window_frames=16))
    whole.load_state_dict(tiny.state_dict())
    expected = whole.eval().encode(clip)
    assert torch.equal(tiny.encode(clip).ids, expected.ids)
    frames = tz.media.to_uint8(clip)[0].permute(1, 2, 3, 0).numpy()
    uint8_ids = tiny.encode(frames).ids
    streamed = tiny.encode_stream((frame for frame in frames), fps=25)
    assert torch.equal(streamed.ids, uint8_ids) and streamed.original_size == (14, 24, 32)
    assert streamed.extras == {"fps": 25.0}
    torch.testing.assert_close(tiny.decode(streamed), whole.decode(streamed), rtol=0, atol=1e-6)
    with pytest.raises(InvalidMediaError, match="no frames"):
        tiny.encode_stream(iter([]))
    with pytest.raises(InvalidMediaError, match="change size"):
        tiny.encode_stream([*frames[:5], frames[5][:16], frames[6][:16]])  # the second window


def test_tzoo_encode_streams_a_video_file_into_the_same_tokens(
    inflated: CausalVideoTokenizer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``tzoo encode`` of a causal tokenizer takes the frames from the file window by window
    (the whole-file reader is never called) and writes the tokens a whole-clip encode gives."""
    from tokenizers_zoo.cli.main import main
    from tokenizers_zoo.media import files
    from tokenizers_zoo.media.video import read_video, save_video
    from tokenizers_zoo.wire import load_tokens

    checkpoint = tmp_path / "inflated"
    inflated.save_pretrained(checkpoint)
    moving = tz.media.to_uint8(_clip(21, 16, 24))[0].permute(1, 2, 3, 0).numpy()  # two windows and one
    save_video(moving, 12.0, tmp_path / "clip.mp4")
    frames, fps = read_video(tmp_path / "clip.mp4")
    expected = inflated.encode(frames, fps=fps)

    def whole_file(*args: object) -> None:
        raise AssertionError("the clip was read whole")

    monkeypatch.setattr(files, "read_media", whole_file)
    out = tmp_path / "t.json"
    assert main(["encode", str(checkpoint), str(tmp_path / "clip.mp4"), "-o", str(out)]) == 0
    streamed = load_tokens(out)
    assert torch.equal(torch.as_tensor(streamed.ids), expected.ids)
    assert streamed.original_size == (21, 16, 24) and streamed.extras == {"fps": 12.0}
    args = ["encode", str(checkpoint), str(tmp_path / "clip.mp4"), "-o", str(out)]
    assert main([*args, "--max-pixels", "300"]) == 2
    assert "clip.mp4: video frames of 24x16 pixels are over the limit of 300" in capsys.readouterr().err
    (tmp_path / "broken.mp4").write_bytes((tmp_path / "clip.mp4").read_bytes()[:200])
    assert main(["encode", str(checkpoint), str(tmp_path / "broken.mp4"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken.mp4: not a readable mp4 video" in err


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="window_frames"):
        CausalVideoTokenizer(CausalVideoConfig(**TINY, window_frames=6))
    with pytest.raises(ValueError, match="multi-scale"):
        CausalVideoTokenizer(
            CausalVideoConfig(**{**TINY, "bottleneck": "msvq", "bottleneck_args": {"codebook_size": 16}})
        )
    other = ConvImageTokenizer(tz.tokenizers.ConvImageTokenizer.Config(**{**TINY, "channels": 16}))
    with pytest.raises(ValueError, match="architecture differs"):
        CausalVideoTokenizer(CausalVideoConfig(**TINY)).inflate(other)


def test_checkpoint_round_trip(tiny: CausalVideoTokenizer, tmp_path: Path) -> None:
    tiny.save_pretrained(tmp_path / "ckpt")
    again = tz.load(str(tmp_path / "ckpt"))
    clip = _clip(5)
    assert torch.equal(again.encode(clip).ids, tiny.encode(clip).ids) and again.info == tiny.info


def test_a_video_training_run_starts_from_the_inflated_image_tokenizer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tokenizers_zoo.media.video import save_video
    from tokenizers_zoo.training.config import load_config
    from tokenizers_zoo.training.train import build_model, train

    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))
    image = ConvImageTokenizer(tz.tokenizers.ConvImageTokenizer.Config(**TINY))
    image.save_pretrained(tmp_path / "image")
    tz.register("test-tiny-image", ConvImageTokenizer, weights=str(tmp_path / "image"))
    rng = np.random.default_rng(0)
    for split, count in (("train", 2), ("eval", 1)):
        (tmp_path / split).mkdir()
        for i in range(count):
            save_video(
                rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8), 10.0, tmp_path / split / f"{i}.mp4"
            )
    config = {
        "name": "tiny-video",
        "model": {
            "architecture": "CausalVideoTokenizer",
            "config": {**TINY, "window_frames": 4, "inflate_from": "test-tiny-image"},
        },
        "data": {
            "train": str(tmp_path / "train"),
            "eval": str(tmp_path / "eval"),
            "frames": 5,
            "eval_frames": 5,
            "crop": 32,
            "batch_size": 2,
            "eval_size": 16,
        },
        "optim": {"lr": 1e-3, "warmup_steps": 1, "max_steps": 2},
        "loss": {"temporal": 1.0, "adversarial": 0.1, "disc_start": 1},
        "run": {
            "dir": str(tmp_path / "run"),
            "threads": 1,
            "log_every": 1,
            "eval_every": 2,
            "checkpoint_every": 2,
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cfg = load_config(tmp_path / "config.yaml")
    fresh = build_model(cfg)
    fresh.init_weights()
    frame = _clip(1, 16, 16)
    assert torch.equal(fresh.eval().encode(frame).ids[:, 0], image.eval().encode(frame[:, :, 0]).ids)
    export = train(cfg)
    records = [yaml.safe_load(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert "temporal" in records[0] and "adversarial" in records[-2]
    assert {"psnr", "temporal_difference_error", "usage"} <= set(records[-1]["eval"])
    assert tz.load(str(export)).encode(_clip(5, 32, 32)).shape == (1, 2, 8, 8)
