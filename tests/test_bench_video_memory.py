"""``tzoo bench video-memory`` on tiny clips: every length measured in its own ``tzoo encode``
process, the ratio against the target, the files written, the default tokenizer when no
trained one is on the machine, and failures as one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tokenizers_zoo as tz
from tokenizers_zoo.benchmarks import video_memory
from tokenizers_zoo.cli.main import main
from tokenizers_zoo.tokenizers import CausalVideoTokenizer


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("inflated")
    return CausalVideoTokenizer.inflated(tz.load("image-fsq-f8-4k")).save_pretrained(directory)


def test_the_bench_measures_each_length_in_a_fresh_encode_and_writes_its_results(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["bench", "video-memory", "--tokenizer", str(checkpoint), "--seconds", "0.4,0.2", "--size", "32"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert (out / "stdout.txt").read_text() == printed
    assert results["streamed"] and results["tokenizer"] == "video-causal-fsq-4x8x8"
    assert [(r["seconds"], r["frames"]) for r in results["runs"]] == [(0.2, 5), (0.4, 10)]
    for run in results["runs"]:
        assert run["peak_mib"] > run["rise_mib"] > 0 and run["frames_per_s"] > 0 and run["file_bytes"] > 0
        assert f"{run['frames']:>5} frames, peak RSS {run['peak_mib']:7.1f} MiB" in printed
    assert results["peak_ratio"] == pytest.approx(
        results["runs"][1]["peak_mib"] / results["runs"][0]["peak_mib"], abs=1e-4
    )
    assert results["target_met"] and "(target <= 1.2: met)" in printed
    assert "load average" in printed and results["machine"]["cpus"] >= 1


def test_the_synthetic_clip_moves_and_has_texture() -> None:
    clip = video_memory.synthetic_clip(6, 32)
    assert clip.shape == (6, 32, 32, 3) and clip.dtype == np.uint8
    assert all(np.abs(np.diff(clip.astype(int), axis=0)).mean(axis=(1, 2, 3)) > 2)  # every frame changes
    assert clip[0].std() > 20  # not flat


def test_without_a_trained_video_tokenizer_the_inflated_one_is_measured_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(video_memory, "TRAINED", "video-none-such")
    chosen = video_memory.resolve_tokenizer(None, tmp_path)
    assert chosen.streams and chosen.name == "video-causal-fsq-4x8x8"
    assert (
        "no trained video-none-such on this machine" in chosen.note
        and "inflated(image-fsq-f8-4k)" in chosen.note
    )
    assert _same_ids(tz.load(chosen.argument), CausalVideoTokenizer.inflated(tz.load("image-fsq-f8-4k")))


def _same_ids(a: tz.Tokenizer, b: tz.Tokenizer) -> bool:
    clip = video_memory.synthetic_clip(5, 16)
    return bool((a.encode(clip).ids == b.encode(clip).ids).all())


def test_failures_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "video-memory", "--tokenizer", "image-fsq-f8-4k"]) == 2
    assert capsys.readouterr().err == (
        "tzoo: error: image-fsq-f8-4k is an image tokenizer; this measures video ones\n"
    )
    with pytest.raises(SystemExit):
        main(["bench", "video-memory", "--seconds", "5"])
    assert "give two or more positive lengths" in capsys.readouterr().err
    (tmp_path / "broken.mp4").write_bytes(b"\0" * 64)
    with pytest.raises(
        video_memory.EncodeRunError, match=r"broken\.mp4 failed \(exit 2\): tzoo: error: .*not a readable"
    ):
        video_memory.encode_peak(
            "video-framewise-image-fsq-f8-4k", tmp_path / "broken.mp4", tmp_path / "t.json"
        )
