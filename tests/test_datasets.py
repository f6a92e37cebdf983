"""Token datasets: the shard format round trip, resume after SIGKILL, idempotent reruns, the
lock, every kind of bad input, and the Ray engine against the local one (tiny inputs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import tokenizers_zoo as tz
from tokenizers_zoo import durable
from tokenizers_zoo.cli.main import main
from tokenizers_zoo.datasets import (
    DatasetInputError,
    DatasetInUseError,
    Limits,
    TokenDataset,
    dataset_info,
    tokenize_dataset,
    verify_dataset,
)
from tokenizers_zoo.datasets.items import fit_image
from tokenizers_zoo.datasets.shards import LOCK
from tokenizers_zoo.media.audio import write_wav

FAST = {"progress": False, "workers": 0}


def _images(folder: Path, count: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for i in range(count):
        sub = folder / ("cats" if i % 2 else "dogs")
        sub.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (20 + i % 5, 24 + i % 3, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(sub / f"{i:03d}.{'jpg' if i % 3 == 0 else 'png'}")


def _files(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != LOCK
    }


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    _images(folder, 10)
    return folder


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two good images and one input of each bad kind."""
    folder = tmp_path_factory.mktemp("bad")
    _images(folder, 2)
    (folder / "dogs" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    good = (folder / "dogs" / "000.jpg").read_bytes()
    (folder / "dogs" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(folder / "cats" / "huge.png")
    (folder / "cats" / "speech.wav").write_bytes(write_wav(np.zeros((1, 800), np.float32), 16000))
    (folder / "cats" / "gone.png").symlink_to(folder / "nowhere.png")
    return folder


def test_image_round_trip_labels_info_verify(image_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    summary = tokenize_dataset(
        "image-fsq-f8-4k", image_dir, out, size=16, batch_size=4, shard_size=6, labels="from-folders", **FAST
    )
    assert (summary.items, summary.errors, summary.shards_written) == (10, 0, 2)
    assert summary.first_batch_items == 4 and 0 < summary.first_batch_seconds <= summary.seconds
    assert summary.steady_items_per_second > 0
    ds = TokenDataset(out)
    assert len(ds) == 10 and ds.labels == ["cats", "dogs"]
    tok = tz.load("image-fsq-f8-4k")
    sources = sorted(p.relative_to(image_dir).as_posix() for p in image_dir.rglob("*.*"))
    first_batch = [fit_image(np.asarray(Image.open(image_dir / s).convert("RGB")), 16) for s in sources[:4]]
    expected = tok.encode(first_batch).ids.numpy()
    for i in range(4):
        sample = ds[i]
        assert sample.source == sources[i] and sample.ids.dtype == np.uint32 and sample.ids.shape == (2, 2)
        assert isinstance(sample.ids, np.memmap)  # read from the mapped file, not loaded
        np.testing.assert_array_equal(sample.ids, expected[i])
        assert sample.label == ds.labels.index(sources[i].split("/")[0])
        assert tok.decode(sample.tokens()).shape == (1, 3, 16, 16)
    assert ds[-1].source == sources[-1]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tokenizer"]["training_step"] == 15200
    assert manifest["tokenizer"]["weights_sha256"] and manifest["tokenizer"]["info"]["vocab_size"] == [4375]
    info = dataset_info(out)
    assert (info["items"], info["tokens"], info["bytes"], info["complete"]) == (10, 40, 160, True)
    assert verify_dataset(out) == []
    (out / "shard-00001" / "ids.bin").write_bytes(b"\0" * 16)
    assert any("SHA-256" in p for p in verify_dataset(out))


def test_audio_codebooks_frames_and_continuous_latents(tmp_path: Path) -> None:
    folder = tmp_path / "audio"
    folder.mkdir()
    rng = np.random.default_rng(1)
    lengths = [1600, 1600, 2400]
    for i, n in enumerate(lengths):
        (folder / f"{i}.wav").write_bytes(
            write_wav(0.3 * rng.standard_normal((1, n)).astype(np.float32), 16000)
        )
    tokenize_dataset("audio-rvq-16khz", folder, tmp_path / "rvq", batch_size=4, **FAST)
    ds = TokenDataset(tmp_path / "rvq")
    assert [ds[i].ids.shape for i in range(3)] == [(12, 5), (12, 5), (12, 8)]
    assert ds[2].duration == pytest.approx(0.15) and ds[2].original_size == (2400,)
    tok = tz.load("audio-rvq-16khz")
    wave = tz.media.read_audio(folder / "2.wav")[0]
    np.testing.assert_array_equal(ds[2].ids, tok.encode(wave, sample_rate=16000).ids[0].numpy())
    assert tok.decode(ds[0].tokens()).shape == (1, 1, 1600)
    tokenize_dataset("audio-mel-80", folder, tmp_path / "mel", latent_dtype="float16", **FAST)
    mel = TokenDataset(tmp_path / "mel")
    assert mel[2].latents.dtype == np.float16 and mel[2].latents.shape == (15, 80)
    assert dataset_info(tmp_path / "mel")["tokens"] == 10 + 10 + 15
    assert verify_dataset(tmp_path / "mel") == []


def test_video_clips_keep_their_frames_and_rate(tmp_path: Path) -> None:
    """Each frame fitted as an image is; the clip's fps is in its tokens; a clip over
    ``max_frames`` and an audio-only file fail without stopping the run."""
    from tokenizers_zoo.media.video import read_video, save_video

    folder = tmp_path / "clips"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for i, (frames, fps) in enumerate([(3, 10.0), (3, 10.0), (5, 12.0), (9, 10.0)]):
        save_video(rng.integers(0, 256, (frames, 24, 40, 3), dtype=np.uint8), fps, folder / f"{i}.mp4")
    (folder / "speech.wav").write_bytes(write_wav(np.zeros((1, 800), np.float32), 16000))
    name = tz.default_tokenizer("video")
    summary = tokenize_dataset(name, folder, tmp_path / "ds", size=16, limits=Limits(max_frames=8), **FAST)
    assert (summary.items, summary.errors) == (3, 2)
    ds = TokenDataset(tmp_path / "ds")
    assert [ds[i].ids.shape for i in range(3)] == [(3, 2, 2), (3, 2, 2), (5, 2, 2)]
    assert ds[2].extras == {"fps": 12.0} and ds[2].duration == pytest.approx(5 / 12)
    tok = tz.load(name)
    frames = read_video(folder / "2.mp4")[0]
    fitted = np.stack([fit_image(f, 16) for f in frames])
    np.testing.assert_array_equal(ds[2].ids, tok.encode(fitted).ids[0].numpy())
    tokens = ds[2].tokens()
    assert tokens.extras == {"fps": 12.0} and tok.decode(tokens).shape == (1, 3, 5, 16, 16)
    kinds = sorted(
        json.loads(line)["kind"] for line in (tmp_path / "ds" / "errors.jsonl").read_text().splitlines()
    )
    assert kinds == ["too-large", "wrong-modality"]


def test_every_bad_input_goes_to_errors_jsonl(bad_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "ds"
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{p}\n" for p in sorted(bad_dir.rglob("*.*"))) + f"{bad_dir}/missing.png\n")
    code = main(
        ["tokenize-dataset", "--tokenizer", "image-patch-p8", "--input", str(listing), "--output", str(out)]
        + ["--size", "16", "--max-pixels", "1000", "--no-progress", "--workers", "0"]
    )
    assert code == 1
    assert "2 of 8 inputs tokenized" in capsys.readouterr().out
    errors = {
        Path(e["path"]).name: e for e in map(json.loads, (out / "errors.jsonl").read_text().splitlines())
    }
    assert {name: e["kind"] for name, e in errors.items()} == {
        "corrupt.png": "corrupt",
        "truncated.jpg": "corrupt",
        "huge.png": "too-large",
        "speech.wav": "wrong-modality",
        "gone.png": "unreadable",
        "missing.png": "unreadable",
    }
    assert all(e["reason"] for e in errors.values())
    assert dataset_info(out)["errors_by_kind"] == {
        "corrupt": 2,
        "too-large": 1,
        "wrong-modality": 1,
        "unreadable": 2,
    }


def test_labels_file_and_captions(image_dir: Path, tmp_path: Path) -> None:
    sources = sorted(p.relative_to(image_dir).as_posix() for p in image_dir.rglob("*.*"))
    (tmp_path / "labels.json").write_text(
        json.dumps({s: "even" if i % 2 == 0 else "odd" for i, s in enumerate(sources[1:])})
    )
    (tmp_path / "captions.tsv").write_text(f"{sources[1]}\ta small photo\n")
    summary = tokenize_dataset(
        "image-patch-p8", image_dir, tmp_path / "ds", size=8,
        labels=str(tmp_path / "labels.json"), captions=str(tmp_path / "captions.tsv"), **FAST,
    )  # fmt: skip
    assert summary.errors == 1  # sources[0] has no label
    ds = TokenDataset(tmp_path / "ds")
    assert ds.labels == ["even", "odd"] and ds[0].source == sources[1]
    assert (ds[0].label, ds[0].caption, ds[1].caption) == (0, "a small photo", "")
    assert json.loads((tmp_path / "ds" / "errors.jsonl").read_text())["kind"] == "unlabelled"


def test_rerun_is_idempotent_and_other_settings_are_refused(image_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "ds"
    tokenize_dataset("image-patch-p8", image_dir, out, size=8, shard_size=4, **FAST)
    before = _files(out)
    again = tokenize_dataset("image-patch-p8", image_dir, out, size=8, shard_size=4, **FAST)
    assert (again.shards_written, again.shards_skipped) == (0, 3) and _files(out) == before
    (out / "shard-00001.tmp").mkdir()  # what a killed run leaves
    durable.remove(out / "shard-00002")  # a shard lost: redone
    redo = tokenize_dataset("image-patch-p8", image_dir, out, size=8, shard_size=4, **FAST)
    assert redo.shards_written == 1 and _files(out) == before
    code = main(
        ["tokenize-dataset", "--tokenizer", "image-patch-p8", "--input", str(image_dir), "--output", str(out)]
    )
    assert code == 2 and "made with other settings" in capsys.readouterr().err
    with pytest.raises(DatasetInputError, match="no image files"):
        tokenize_dataset("image-patch-p8", tmp_path / "ds" / "shard-00000", tmp_path / "x", **FAST)


def test_a_second_run_into_one_folder_is_refused(image_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    with durable.locked(out, LOCK), pytest.raises(DatasetInUseError, match=f"pid {os.getpid()}"):
        tokenize_dataset("image-patch-p8", image_dir, out, size=8, **FAST)
    tokenize_dataset("image-patch-p8", image_dir, out, size=8, **FAST)  # the lock ended with its holder


def test_ray_engine_missing_names_the_extra(image_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(tz.TokenizersZooError, match=r"tokenizers-zoo\[ray\]"):
        tokenize_dataset("image-patch-p8", image_dir, tmp_path / "ds", engine="ray", size=8, **FAST)


@pytest.mark.slow
def _processes_naming(text: str) -> list[int]:
    """Live processes whose command line holds ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_sigkill_then_rerun_is_byte_identical(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    _images(folder, 36, seed=3)
    args = ["tokenize-dataset", "--tokenizer", "image-fsq-f8-4k", "--input", str(folder), "--size", "64"]
    args += ["--shard-size", "4", "--batch-size", "2", "--workers", "1", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "tokenizers_zoo.cli"]
    subprocess.run([*command, *args, "--output", str(tmp_path / "whole")], check=True, env=env)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*command, *args, "--output", str(killed)], env=env)
    deadline = time.monotonic() + 60
    while not (killed / "shard-00001").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.02)  # somewhere inside shard 2 of 9
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run ended before it was killed"
    # Its decoding workers die with it at once (torch's own check of the parent takes 5 s
    # when a worker is idle, and never comes when it is blocked handing over a batch).
    deadline = time.monotonic() + 2
    while _processes_naming(str(killed)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_naming(str(killed)) == []
    assert TokenDataset(killed).manifest["shards"] != TokenDataset(tmp_path / "whole").manifest["shards"]
    subprocess.run([*command, *args, "--output", str(killed)], check=True, env=env)
    assert _files(killed) == _files(tmp_path / "whole")


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_engine_writes_what_the_local_engine_writes(ray_cluster, bad_dir: Path, tmp_path: Path) -> None:
    settings = {"size": 16, "batch_size": 2, "shard_size": 3, "labels": "from-folders", "progress": False}
    settings["limits"] = Limits(max_pixels=1000)
    tokenize_dataset("image-fsq-f8-4k", bad_dir, tmp_path / "local", workers=2, **settings)
    summary = tokenize_dataset(
        "image-fsq-f8-4k", bad_dir, tmp_path / "ray", engine="ray", workers=2, **settings
    )
    assert (summary.items, summary.errors) == (2, 5)
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")


def test_torch_threads_are_one_in_tests() -> None:  # the equality tests above rely on it
    assert torch.get_num_threads() == 1


def test_tokenizing_leaves_autograd_as_it_was(tmp_path: Path) -> None:
    """A library call must not switch off gradients for the rest of the caller's process."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (16, 16), (10, 200, 30)).save(folder / "a.png")
    tokenize_dataset("image-patch-p8", folder, tmp_path / "out", size=16, workers=0)
    assert torch.is_grad_enabled()
