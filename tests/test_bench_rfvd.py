"""rFVD in ``tzoo bench recon``: the I3D file is identified before it is loaded, clips reach
it as the FVD port takes them, and the distance is the Fréchet distance of the features.

The published I3D file cannot be downloaded here; a TorchScript stand-in with its call
signature checks what the network is given and returns a few features."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from test_bench_recon import FrameLevels, _bench, _results, _write_gif

import tokenizers_zoo as tz
from tokenizers_zoo import registry
from tokenizers_zoo.benchmarks import rfvd
from tokenizers_zoo.benchmarks.weights_file import git_blob_id


class I3DStandIn(torch.nn.Module):
    """Refuses any input but the one the FVD port's users give it; three features per clip."""

    def forward(
        self, x: torch.Tensor, rescale: bool = True, resize: bool = True, return_features: bool = False
    ) -> torch.Tensor:
        if rescale or resize or not return_features:
            raise RuntimeError(
                "the I3D port must be called with rescale=False, resize=False, return_features=True"
            )
        if x.dim() != 5 or x.shape[1] != 3 or x.shape[3] != 224 or x.shape[4] != 224:
            raise RuntimeError("the I3D port takes (B, 3, T, 224, 224)")
        if float(x.min()) < -1.0 or float(x.max()) > 1.0:
            raise RuntimeError("the I3D port takes values in [-1, 1]")
        red_minus_blue = x[:, 0].mean((1, 2, 3)) - x[:, 2].mean((1, 2, 3))
        return torch.stack([x.mean((1, 2, 3, 4)), red_minus_blue, x.std((1, 2, 3, 4))], 1)


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / rfvd.FVD_WEIGHTS_FILE
    torch.jit.script(I3DStandIn()).save(str(path))
    monkeypatch.setattr(
        rfvd, "FVD_WEIGHTS", dataclasses.replace(rfvd.FVD_WEIGHTS, expected=git_blob_id(path))
    )
    monkeypatch.delenv(rfvd.FVD_WEIGHTS_ENV, raising=False)
    return path


def test_the_git_blob_id_is_what_git_hash_object_prints(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    path.write_bytes(bytes(range(256)) * 5000)
    printed = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True)
    assert git_blob_id(path) == printed.stdout.strip()


def test_without_the_file_rfvd_is_unavailable_and_a_wrong_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(rfvd.FVD_WEIGHTS_ENV, raising=False)
    weights, reason = rfvd.FVD_WEIGHTS.find(None)
    assert weights is None and rfvd.FVD_WEIGHTS_FILE in reason and "--fvd-weights" in reason
    wrong = tmp_path / rfvd.FVD_WEIGHTS_FILE
    wrong.write_bytes(b"not the I3D network")
    with pytest.raises(rfvd.FvdWeightsError, match="git blob id .* refusing"):
        rfvd.FVD_WEIGHTS.find(wrong)
    monkeypatch.setenv(rfvd.FVD_WEIGHTS_ENV, str(wrong))
    with pytest.raises(rfvd.FvdWeightsError):
        rfvd.FVD_WEIGHTS.find(None)
    with pytest.raises(tz.WeightsNotFoundError, match="not found"):
        rfvd.FVD_WEIGHTS.find(tmp_path / "missing.pt")
    with pytest.raises(rfvd.FvdWeightsError):  # also when the network is built directly
        rfvd.VideoFrechetDistance(wrong, torch.device("cpu"))


def test_the_frechet_distance_is_the_closed_form_of_two_gaussians() -> None:
    from scipy import linalg

    rng = np.random.default_rng(3)
    real = rng.normal(size=(40, 5))
    fake = rng.normal(size=(40, 5)) @ rng.normal(size=(5, 5)) * 0.7 + 0.3
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = linalg.sqrtm(s1 @ s2).real
    expected = np.square(real.mean(0) - fake.mean(0)).sum() + np.trace(s1 + s2 - 2 * root)
    got = rfvd.frechet_distance(torch.from_numpy(real), torch.from_numpy(fake))
    assert got == pytest.approx(expected, rel=1e-8)
    assert rfvd.frechet_distance(torch.from_numpy(real), torch.from_numpy(real)) == pytest.approx(0, abs=1e-9)


def test_a_clip_reaches_i3d_shorter_side_224_centre_cropped_in_minus_one_to_one() -> None:
    clip = torch.zeros(5, 3, 40, 64, dtype=torch.uint8)
    clip[..., 56:] = 255  # a white band at the right edge: 40 x 64 -> 224 x 359, the crop ends at 291
    x = rfvd.i3d_input(clip)
    assert x.shape == (1, 3, 5, 224, 224)
    assert float(x.min()) == -1.0 and float(x.max()) == -1.0
    clip[..., 30:34] = 255  # a band in the middle stays
    assert float(rfvd.i3d_input(clip).max()) == 1.0
    wide = rfvd.i3d_input(torch.full((2, 3, 32, 96), 255, dtype=torch.uint8))
    assert wide.shape == (1, 3, 2, 224, 224) and torch.allclose(wide, torch.ones_like(wide))


def test_bench_recon_reports_rfvd_per_video_run(
    stand_in: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))  # the entries end with the test
    tz.register("test-video-levels", FrameLevels, {}, modality="video", kind="discrete", overwrite=True)
    tz.register(
        "test-video-exact", FrameLevels, {"levels": 256}, modality="video", kind="discrete", overwrite=True
    )
    (tmp_path / "data").mkdir()
    for i in range(4):
        _write_gif(tmp_path / "data" / f"clip{i}.gif", 4, seed=i)
    out = tmp_path / "out"
    code = _bench(
        "--tokenizer", "test-video-exact,test-video-levels", "--data", str(tmp_path / "data"),
        "--size", "16", "--max-frames", "3", "--fvd-weights", str(stand_in), "--out", str(out),
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    results = _results(out)
    exact, levels = (run["summary"] for run in results["runs"])
    assert exact["rfvd"] == pytest.approx(0.0, abs=1e-9) and levels["rfvd"] > 1e-6
    assert "rfvd" not in results["unavailable"]
    markdown = (out / "results.md").read_text()
    assert "| rFVD |" in markdown and "I3D features of 4 original clips" in markdown


def test_bench_recon_refuses_a_wrong_i3d_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))  # the entry ends with the test
    tz.register("test-video-levels", FrameLevels, {}, modality="video", kind="discrete", overwrite=True)
    (tmp_path / "data").mkdir()
    _write_gif(tmp_path / "data" / "clip.gif", 3)
    wrong = tmp_path / rfvd.FVD_WEIGHTS_FILE
    wrong.write_bytes(b"not the I3D network")
    argv = ["--tokenizer", "test-video-levels", "--data", str(tmp_path / "data"), "--fvd-weights", str(wrong)]
    code = _bench(*argv, "--out", str(tmp_path / "out"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "is not i3d_torchscript.pt" in err[0], err
