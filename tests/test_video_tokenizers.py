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
    adapter = tz.tokenizers.PretrainedAdapter  # other libraries' models: not nested frame by frame
    native = [
        n
        for n in tz.list_tokenizers(modality="image")
        if not issubclass(tz.get_entry(n).architecture, adapter)
    ]
    assert {f"video-framewise-{n}" for n in native} <= set(names)
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
        ("missing.mp4", "no such file"),
        (5, "cannot read a video"),
        ([], "no video"),
    ],
)
def test_bad_clips_are_refused_clearly(framewise: tz.Tokenizer, media: object, message: str) -> None:
    with pytest.raises(InvalidMediaError, match=message):
        framewise.encode(media)


def test_sample_rate_is_refused(framewise: tz.Tokenizer) -> None:
    with pytest.raises(InvalidMediaError, match="sample_rate"):
        framewise.encode(_clip(frames=1), sample_rate=16000)


def test_a_clip_file_round_trips_at_its_frame_rate(framewise: tz.Tokenizer, tmp_path: Path) -> None:
    """A path is one clip; its fps goes into the tokens' extras and back into the file."""
    from tokenizers_zoo.media.files import render_media
    from tokenizers_zoo.media.video import read_video, save_video

    clip = _clip(frames=6, height=24, width=32)
    save_video(clip, 12.0, tmp_path / "clip.mp4")
    frames, fps = read_video(tmp_path / "clip.mp4")
    tokens = framewise.encode(str(tmp_path / "clip.mp4"), fps=fps)
    assert tokens.extras == {"fps": 12.0} and torch.equal(tokens.ids, framewise.encode(frames).ids)
    back = tz.media.to_uint8(framewise.decode(tokens))[0].permute(1, 2, 3, 0).numpy()
    again, again_fps = read_video(render_media("video", back, "video/mp4", None, tokens.extras["fps"]), "mp4")
    assert again.shape == clip.shape and again_fps == 12.0
    with pytest.raises(InvalidMediaError, match="fps"):
        framewise.encode(clip, fps=-1)


def test_cli_encodes_and_decodes_a_video_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tokenizers_zoo.cli.main import main
    from tokenizers_zoo.media.video import read_video, save_video

    name = tz.default_tokenizer("video")
    save_video(_clip(frames=5, height=16, width=24), 10.0, tmp_path / "in.gif")
    assert main(["encode", name, str(tmp_path / "in.gif"), "-o", str(tmp_path / "t.json")]) == 0
    assert main(["decode", name, str(tmp_path / "t.json"), "-o", str(tmp_path / "out.mp4")]) == 0
    frames, fps = read_video(tmp_path / "out.mp4")
    assert frames.shape == (5, 16, 24, 3) and fps == 10.0
    assert main(["decode", name, str(tmp_path / "t.json"), "-o", str(tmp_path / "out.gif")]) == 0
    assert read_video(tmp_path / "out.gif")[0].shape == (5, 16, 24, 3)
    capsys.readouterr()


def test_service_round_trips_a_video(tmp_path: Path) -> None:
    import httpx
    from service_helpers import assert_problem, running

    from tokenizers_zoo.media.video import read_video, write_video
    from tokenizers_zoo.service.app import create_app
    from tokenizers_zoo.service.settings import ServiceSettings

    name = tz.default_tokenizer("video")
    settings = ServiceSettings(tokenizers=(name,), max_frames=8)
    with (
        running(create_app(settings), ready=True) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        body = write_video(_clip(frames=5, height=16, width=24), 10.0)
        encoded = http.post(
            f"/v1/tokenizers/{name}/encode", content=body, headers={"Content-Type": "video/mp4"}
        )
        assert encoded.status_code == 200, encoded.text
        assert encoded.json()["original_size"] == [5, 16, 24]
        decoded = http.post(
            f"/v1/tokenizers/{name}/decode",
            content=encoded.content,
            headers={"Content-Type": "application/json"},
        )
        assert decoded.status_code == 200 and decoded.headers["content-type"] == "video/mp4"
        frames, fps = read_video(decoded.content, "mp4")
        assert frames.shape == (5, 16, 24, 3) and fps == 10.0
        long = write_video(_clip(frames=9, height=16, width=24), 10.0)
        refused = http.post(
            f"/v1/tokenizers/{name}/encode", content=long, headers={"Content-Type": "video/mp4"}
        )
        assert_problem(refused, 413, "too-large")
        first = encoded.json()
        too_many = {**first, "original_size": [9, 16, 24], "shape": [1, 9, *first["shape"][2:]]}
        too_many["ids"] = [[first["ids"][0][0]] * 9]
        refused = http.post(f"/v1/tokenizers/{name}/decode", json=too_many)
        assert_problem(refused, 413, "too-large")


def test_eval_tokenizer_scores_held_out_clips(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import json

    from tokenizers_zoo.cli.main import main
    from tokenizers_zoo.media.video import save_video

    for i in range(2):
        save_video(_clip(frames=6, height=24, width=32, seed=i), 10.0, tmp_path / f"{i}.mp4")
    name = "video-framewise-image-patch-p8"  # exact: lossless up to the mp4's own loss
    assert main(["eval-tokenizer", name, "--data", str(tmp_path), "--size", "16", "--frames", "5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["clips"], summary["frames"], summary["size"]) == (2.0, 5, 16)
    assert summary["psnr"] == 99.0 and summary["temporal_difference_error"] == 0.0
    assert summary["tokens_per_clip"] == 5 * 2 * 2
    assert main(["eval-tokenizer", name, "--data", str(tmp_path), "--frames", "50"]) != 0
