"""Video tokenizers: input forms, padding and cropping, and the frame-wise family's
promise that frame t's tokens are the image tokenizer's tokens of frame t."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

import tokenizers_zoo as tz
from tokenizers_zoo.errors import CheckpointError, InvalidMediaError


def _clip(frames: int = 5, height: int = 20, width: int = 28, seed: int = 0) -> np.ndarray:
    """uint8 (T, H, W, 3): a colour ramp that moves one pixel per frame, plus noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    clip = np.stack(
        [np.stack([(x + t) * 9 % 256, y * 12 % 256, (x + y + 2 * t) * 5 % 256], -1) for t in range(frames)]
    )
    return (clip + rng.integers(0, 20, clip.shape)).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def framewise() -> tz.Tokenizer:
    return tz.load("video-framewise-image-fsq-f8-4k")


def test_video_entries_are_listed_with_defaults() -> None:
    names = tz.list_tokenizers(modality="video")
    assert {f"video-framewise-{n}" for n in tz.list_tokenizers(modality="image")} <= set(names)
    assert tz.default_tokenizer("video", "discrete") in names
    assert tz.default_tokenizer("video", "continuous") in names


@pytest.mark.parametrize("image_name", ["image-fsq-f8-4k", "image-kl-f8-c16", "image-palette-512"])
def test_each_frame_tokenizes_as_the_image_tokenizer_does(image_name: str) -> None:
    video, image = tz.load(f"video-framewise-{image_name}"), tz.load(image_name)
    clip = _clip()
    tokens = video.encode(clip)
    assert tokens.original_size == (5, 20, 28)
    assert tokens.shape[:2] == (1, 5)
    for t in range(5):
        frame = image.encode(clip[t])
        if frame.ids is not None:
            assert torch.equal(tokens.ids[:, t], frame.ids)
        else:
            torch.testing.assert_close(tokens.latents[:, t], frame.latents, rtol=0, atol=1e-5)
    back = video.decode(tokens)
    assert back.shape == (1, 3, 5, 20, 28)
    torch.testing.assert_close(back[:, :, 3], image.decode(image.encode(clip[3])), rtol=0, atol=1e-5)


def test_every_input_form_gives_the_same_ids(framewise: tz.Tokenizer) -> None:
    clip = _clip(frames=3)
    expected = framewise.encode(clip).ids
    as_tensor = torch.from_numpy(clip).permute(3, 0, 1, 2)  # uint8 (3, T, H, W)
    forms = {
        "uint8 tensor": as_tensor,
        "float tensor": as_tensor.float() / 127.5 - 1,
        "PIL frames": [Image.fromarray(f) for f in clip],
        "array frames": list(clip),
        "PyAV frames": [av.VideoFrame.from_ndarray(f, format="rgb24") for f in clip],
    }
    for form, media in forms.items():
        assert torch.equal(framewise.encode(media).ids, expected), form
    batch = framewise.encode([clip, clip[::-1].copy()])
    assert batch.shape[0] == 2 and torch.equal(batch.ids[:1], expected)


def test_frames_per_batch_bounds_work_without_changing_ids(framewise: tz.Tokenizer) -> None:
    small = tz.load("video-framewise-image-fsq-f8-4k")
    small.config = type(small.config)(**{**vars(small.config), "frames_per_batch": 2})
    clip = _clip(frames=7)
    assert torch.equal(small.encode(clip).ids, framewise.encode(clip).ids)
    torch.testing.assert_close(small.decode(small.encode(clip)), framewise.decode(framewise.encode(clip)))


def test_checkpoint_round_trip(framewise: tz.Tokenizer, tmp_path: Path) -> None:
    framewise.save_pretrained(tmp_path / "fw")
    again = tz.load(str(tmp_path / "fw"))
    clip = _clip(frames=2)
    assert torch.equal(again.encode(clip).ids, framewise.encode(clip).ids)
    assert again.info == framewise.info


def test_a_checkpoint_mixing_layouts_is_refused(framewise: tz.Tokenizer, tmp_path: Path) -> None:
    state = framewise.state_dict()
    key = next(iter(state))
    mixed = {**state, key.removeprefix("image."): state[key]}
    with pytest.raises(CheckpointError, match="mixes"):
        framewise.load_checked(mixed, tmp_path / "x.safetensors")


@pytest.mark.parametrize(
    ("media", "message"),
    [
        (np.zeros((2, 8, 8, 3), np.float32), "uint8"),
        (np.zeros((8, 8), np.uint8), "video arrays must be"),
        (torch.zeros(3, 8, 8), "video tensors must be"),
        (torch.full((1, 3, 2, 8, 8), float("nan")), "NaN"),
        (torch.full((1, 3, 2, 8, 8), 3.0), r"\[-1, 1\]"),
        (torch.zeros(1, 3, 0, 8, 8), "no frames"),
        ([np.zeros((2, 8, 8, 3), np.uint8), np.zeros((3, 8, 8, 3), np.uint8)], "share"),
        ("not a clip", "cannot read a video"),
        ([], "no video"),
    ],
)
def test_bad_clips_are_refused_clearly(framewise: tz.Tokenizer, media: object, message: str) -> None:
    with pytest.raises(InvalidMediaError, match=message):
        framewise.encode(media)


def test_sample_rate_is_refused(framewise: tz.Tokenizer) -> None:
    with pytest.raises(InvalidMediaError, match="sample_rate"):
        framewise.encode(_clip(frames=1), sample_rate=16000)
