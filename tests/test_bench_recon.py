"""``tzoo bench recon``: metrics against their reference packages on known inputs, the rFID
guard, token statistics, data loading, and whole runs on tiny inputs."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tokenizers_zoo import metrics
from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.tokenizer import Tokenizer


def _noisy_pair(seed: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, 256, shape).astype(np.uint8)
    noisy = np.clip(clean.astype(int) + rng.integers(-20, 21, shape), 0, 255).astype(np.uint8)
    return clean, noisy


def _chw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2)


def test_psnr_of_known_error_identity_and_against_scikit_image() -> None:
    from skimage.metrics import peak_signal_noise_ratio

    image = np.full((1, 16, 16, 3), 100, np.uint8)
    shifted = image + np.uint8(5)  # every pixel off by 5: MSE 25
    assert metrics.psnr(_chw(shifted), _chw(image)).item() == pytest.approx(10 * math.log10(255**2 / 25))
    assert metrics.psnr(_chw(image), _chw(image)).item() == math.inf
    clean, noisy = _noisy_pair(0, (2, 24, 20, 3))
    ours = metrics.psnr(_chw(noisy), _chw(clean))
    reference = [peak_signal_noise_ratio(clean[i], noisy[i], data_range=255) for i in range(2)]
    assert ours.tolist() == pytest.approx(reference, abs=1e-5)  # torchmetrics keeps data_range in fp32


def test_ssim_against_scikit_image() -> None:
    from skimage.metrics import structural_similarity

    clean, noisy = _noisy_pair(1, (2, 40, 32, 3))
    ours = metrics.ssim(_chw(noisy), _chw(clean))
    reference = [
        structural_similarity(
            clean[i],
            noisy[i],
            data_range=255,
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for i in range(2)
    ]
    # same window, constants and border crop; the two differ by ~1e-4 in rounding
    assert ours.tolist() == pytest.approx(reference, abs=1e-3)
    assert metrics.ssim(_chw(clean), _chw(clean)).tolist() == pytest.approx([1.0, 1.0])


def test_si_snr_of_a_known_mixture() -> None:
    rng = np.random.default_rng(2)
    reference = torch.from_numpy(rng.standard_normal(8000))
    noise = torch.from_numpy(rng.standard_normal(8000))
    noise = noise - (noise @ reference) / (reference @ reference) * reference  # orthogonal to the reference
    noise = noise / noise.norm() * reference.norm() / 10  # 20 dB below
    estimate = 3.0 * (reference - reference.mean()) + 3.0 * noise  # scale must not matter
    assert metrics.si_snr(estimate, reference).item() == pytest.approx(20.0, abs=0.05)


def _speech_like(rate: int, seconds: float, seed: int) -> np.ndarray:
    """Harmonic tones switching pitch every 200 ms, enough for PESQ's voice activity detector."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    pitch = rng.uniform(100, 300, int(seconds * 5) + 1)[(t * 5).astype(int)]
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (0.3 * wave + 0.003 * rng.standard_normal(t.shape)).astype(np.float32)


@pytest.mark.parametrize(("rate", "mode"), [(16000, "wb"), (8000, "nb")])
def test_pesq_and_stoi_are_the_reference_packages(rate: int, mode: str) -> None:
    from pesq import pesq
    from pystoi import stoi

    clean = _speech_like(rate, 2.0, 3)
    degraded = (clean + 0.02 * np.random.default_rng(4).standard_normal(clean.shape)).astype(np.float32)
    assert metrics.pesq_score(clean, degraded, rate) == pesq(rate, clean, degraded, mode)
    assert metrics.pesq_band(rate).startswith(mode)
    assert metrics.stoi_score(clean, degraded, rate) == stoi(clean, degraded, rate, extended=False)
    assert metrics.stoi_score(clean, clean, rate) == pytest.approx(1.0, abs=1e-6)
    assert metrics.pesq_score(clean, clean, rate) > metrics.pesq_score(clean, degraded, rate)


def test_pesq_resamples_other_rates_to_wide_band() -> None:
    import torchaudio.functional as AF
    from pesq import pesq

    clean = _speech_like(24000, 2.0, 5)
    degraded = (clean + 0.02 * np.random.default_rng(6).standard_normal(clean.shape)).astype(np.float32)
    at_16k = [AF.resample(torch.from_numpy(s), 24000, 16000).numpy() for s in (clean, degraded)]
    assert metrics.pesq_score(clean, degraded, 24000) == pesq(16000, *at_16k, "wb")


def test_temporal_difference_error_sees_flicker_not_a_constant_offset() -> None:
    clip = torch.rand(4, 3, 8, 8) * 255
    assert metrics.temporal_difference_error(clip + 10, clip) == pytest.approx(0.0, abs=1e-4)
    flicker = clip + torch.tensor([0.0, 6.0, 0.0, 6.0])[:, None, None, None]
    assert metrics.temporal_difference_error(flicker, clip) == pytest.approx(6.0)
    assert metrics.temporal_difference_error(clip[:1], clip[:1]) == 0.0


#: Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation
#: notes, supplementary test data, and mathematical observations", Table 1: all 34 pairs,
#: chosen to hit the hue wrap, zero chroma and the blue rotation term; dE00 to 4 places.
SHARMA_CIEDE2000 = [
    ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
    ((50, 3.1571, -77.2803), (50, 0, -82.7485), 2.8615),
    ((50, 2.8361, -74.0200), (50, 0, -82.7485), 3.4412),
    ((50, -1.3802, -84.2814), (50, 0, -82.7485), 1.0000),
    ((50, -1.1848, -84.8006), (50, 0, -82.7485), 1.0000),
    ((50, -0.9009, -85.5211), (50, 0, -82.7485), 1.0000),
    ((50, 0, 0), (50, -1, 2), 2.3669),
    ((50, -1, 2), (50, 0, 0), 2.3669),
    ((50, 2.4900, -0.0010), (50, -2.4900, 0.0009), 7.1792),
    ((50, 2.4900, -0.0010), (50, -2.4900, 0.0010), 7.1792),
    ((50, 2.4900, -0.0010), (50, -2.4900, 0.0011), 7.2195),
    ((50, 2.4900, -0.0010), (50, -2.4900, 0.0012), 7.2195),
    ((50, -0.0010, 2.4900), (50, 0.0009, -2.4900), 4.8045),
    ((50, -0.0010, 2.4900), (50, 0.0010, -2.4900), 4.8045),
    ((50, -0.0010, 2.4900), (50, 0.0011, -2.4900), 4.7461),
    ((50, 2.5, 0), (50, 0, -2.5), 4.3065),
    ((50, 2.5, 0), (73, 25, -18), 27.1492),
    ((50, 2.5, 0), (61, -5, 29), 22.8977),
    ((50, 2.5, 0), (56, -27, -3), 31.9030),
    ((50, 2.5, 0), (58, 24, 15), 19.4535),
    ((50, 2.5, 0), (50, 3.1736, 0.5854), 1.0000),
    ((50, 2.5, 0), (50, 3.2972, 0), 1.0000),
    ((50, 2.5, 0), (50, 1.8634, 0.5757), 1.0000),
    ((50, 2.5, 0), (50, 3.2592, 0.3350), 1.0000),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((63.0109, -31.0961, -5.8663), (62.8187, -29.7946, -4.0864), 1.2630),
    ((61.2901, 3.7196, -5.3901), (61.4292, 2.2480, -4.9620), 1.8731),
    ((35.0831, -44.1164, 3.7933), (35.0232, -40.0716, 1.5901), 1.8645),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((36.4612, 47.8580, 18.3852), (36.2715, 50.5065, 21.2231), 1.4146),
    ((90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
    ((6.7747, -0.2908, -2.4247), (5.8714, -0.0985, -2.2286), 0.6377),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


def test_ciede2000_reproduces_sharma_wu_dalal_test_data() -> None:
    first, second, expected = (
        torch.tensor(column, dtype=torch.float64) for column in zip(*SHARMA_CIEDE2000, strict=True)
    )
    assert metrics.ciede2000(first, second).tolist() == pytest.approx(expected.tolist(), abs=5e-5)
    assert metrics.ciede2000(second, first).tolist() == pytest.approx(expected.tolist(), abs=5e-5)
    assert metrics.ciede2000(first, first).tolist() == [0.0] * len(first)


def test_lab_and_ciede2000_against_scikit_image() -> None:
    from skimage.color import deltaE_ciede2000, rgb2lab

    rng = np.random.default_rng(10)
    colours = rng.random((4000, 3))
    others = np.concatenate(
        [rng.random((2000, 3)), np.clip(colours[2000:] + rng.normal(0, 0.02, (2000, 3)), 0, 1)]
    )
    ours = metrics.srgb_to_lab(torch.from_numpy(colours))
    assert ours.numpy() == pytest.approx(rgb2lab(colours), abs=1e-8)
    distance = metrics.ciede2000(ours, metrics.srgb_to_lab(torch.from_numpy(others)))
    reference = deltaE_ciede2000(rgb2lab(colours), rgb2lab(others))
    assert distance.numpy() == pytest.approx(reference, abs=1e-6)  # same constants: agree to rounding


def test_colour_error_of_block_means_against_scikit_image() -> None:
    from skimage.color import deltaE_ciede2000, rgb2lab

    clean, noisy = _noisy_pair(11, (3, 40, 36, 3))
    tinted = np.clip(clean.astype(int) + [12, 0, -8], 0, 255).astype(np.uint8)
    ours = metrics.colour_error(_chw(tinted), _chw(clean)).tolist()
    reference = []
    for original, recon in zip(clean, tinted, strict=True):
        # 16 x 16 block means of the full blocks: rows 0-31 and columns 0-31 of 40 x 36
        means = [x[:32, :32].reshape(2, 16, 2, 16, 3).mean((1, 3)) / 255 for x in (original, recon)]
        reference.append(deltaE_ciede2000(*(rgb2lab(m) for m in means)).mean())
    assert ours == pytest.approx(reference, abs=1e-4) and min(ours) > 1
    assert metrics.colour_error(_chw(clean), _chw(clean)).tolist() == [0.0, 0.0, 0.0]  # exactly
    # pixel noise that averages out within a block is no colour error; a tint is
    assert metrics.colour_error(_chw(noisy), _chw(clean)).max() < 0.5 * min(ours)
    as_floats = metrics.colour_error(_chw(tinted).float() / 255, _chw(clean).float() / 255, data_range=1.0)
    assert as_floats.tolist() == pytest.approx(ours, abs=1e-4)
    small = metrics.colour_error(_chw(tinted[:, :8, :12]), _chw(clean[:, :8, :12]))  # one 8 x 12 block
    whole = [
        deltaE_ciede2000(*(rgb2lab(x[:8, :12].reshape(-1, 3).mean(0) / 255) for x in pair))
        for pair in zip(clean, tinted, strict=True)
    ]
    assert small.tolist() == pytest.approx(whole, abs=1e-4)
    with pytest.raises(ValueError, match="B, 3, H, W"):
        metrics.colour_error(_chw(clean)[0], _chw(clean)[0])


# -- rFID ------------------------------------------------------------------------------


class PassThrough(torch.nn.Module):
    """Stands in for Inception: the "images" given to the metric are the features."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.num_features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_frechet_distance_matches_an_independent_scipy_formula() -> None:
    from scipy.linalg import sqrtm

    from tokenizers_zoo.benchmarks.rfid import FrechetDistance

    rng = np.random.default_rng(7)
    d = 6
    mix_a, mix_b = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    real = rng.standard_normal((400, d)) @ mix_a + 1.0
    fake = rng.standard_normal((400, d)) @ mix_b - 0.5
    fid = FrechetDistance(PassThrough(d))
    metric = fid.metric()
    for start in range(0, 400, 100):  # in batches, as the bench feeds it
        batch = slice(start, start + 100)
        fid.add(metric, torch.from_numpy(real[batch]), torch.from_numpy(fake[batch]))
    ours, reason = fid.value(metric)
    mu_r, mu_f = real.mean(0), fake.mean(0)
    cov_r, cov_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    expected = ((mu_r - mu_f) ** 2).sum() + np.trace(cov_r + cov_f - 2 * sqrtm(cov_r @ cov_f).real)
    assert reason == "" and ours == pytest.approx(expected, rel=1e-6)
    same = fid.metric()
    fid.add(same, torch.from_numpy(real), torch.from_numpy(real))
    assert fid.value(same)[0] == pytest.approx(0.0, abs=1e-6)
    one = fid.metric()
    fid.add(one, torch.from_numpy(real[:1]), torch.from_numpy(fake[:1]))
    assert fid.value(one) == (None, "rFID needs at least 2 images, this run has 1")


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    from tokenizers_zoo.benchmarks import rfid

    monkeypatch.delenv(rfid.FID_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def test_rfid_without_the_weights_file_is_unavailable_and_says_what_to_supply(empty_hub) -> None:  # noqa: ANN001
    from tokenizers_zoo.benchmarks.rfid import FID_WEIGHTS, FID_WEIGHTS_FILE

    weights, reason = FID_WEIGHTS.find(None)
    assert weights is None
    assert FID_WEIGHTS_FILE in reason and "--fid-weights" in reason


def test_rfid_refuses_a_wrong_or_missing_weights_file(empty_hub, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    import tokenizers_zoo as tz
    from tokenizers_zoo.benchmarks import rfid

    wrong = tmp_path / rfid.FID_WEIGHTS_FILE
    wrong.write_bytes(b"not the inception weights")
    with pytest.raises(rfid.FidWeightsError, match="SHA-256 .* refusing"):
        rfid.FID_WEIGHTS.find(wrong)
    monkeypatch.setenv(rfid.FID_WEIGHTS_ENV, str(wrong))
    with pytest.raises(rfid.FidWeightsError):
        rfid.FID_WEIGHTS.find(None)
    monkeypatch.delenv(rfid.FID_WEIGHTS_ENV)
    empty_hub.mkdir(parents=True)
    (empty_hub / rfid.CACHED_NAMES[1]).write_bytes(b"also wrong")
    with pytest.raises(rfid.FidWeightsError):
        rfid.FID_WEIGHTS.find(None)
    with pytest.raises(tz.WeightsNotFoundError, match="not found"):
        rfid.FID_WEIGHTS.find(tmp_path / "missing.pth")
    with pytest.raises(rfid.FidWeightsError):  # also when the network is built directly
        rfid.FrechetDistance.inception(wrong)
    monkeypatch.setattr(
        rfid, "FID_WEIGHTS", dataclasses.replace(rfid.FID_WEIGHTS, expected=rfid.sha256_of(wrong))
    )
    assert rfid.FID_WEIGHTS.find(wrong) == (wrong, "")


# -- token statistics -----------------------------------------------------------------


def test_bits_and_codebook_statistics() -> None:
    from tokenizers_zoo.benchmarks.token_stats import CodebookCounter, item_cost
    from tokenizers_zoo.info import TokenizerInfo
    from tokenizers_zoo.tokens import Tokens

    audio = TokenizerInfo("a", "audio", "discrete", vocab_size=(1024,) * 4, temporal_factor=320)
    ids = torch.zeros(1, 2, 50, dtype=torch.long)  # 2 of 4 codebooks: a lower bandwidth
    ids[0, 0, :25] = 1
    assert item_cost(Tokens("a", (16000,), ids=ids), audio) == {"tokens": 100.0, "bits": 100 * 10.0}
    counter = CodebookCounter(audio)
    counter.update(ids)
    counter.update(ids)
    first, second = counter.summary()
    assert first["usage"] == 2 / 1024 and first["perplexity"] == pytest.approx(2.0)
    assert second["usage"] == 1 / 1024 and second["perplexity"] == pytest.approx(1.0)
    assert first["tokens"] == 100

    image = TokenizerInfo("i", "image", "discrete", vocab_size=(8,), spatial_factor=4)
    grid = torch.tensor([[[0, 1], [2, 3]]])
    assert item_cost(Tokens("i", (8, 8), ids=grid), image) == {"tokens": 4.0, "bits": 12.0}
    counter = CodebookCounter(image)
    counter.update(grid)
    assert counter.summary()[0]["usage"] == 0.5 and counter.summary()[0]["perplexity"] == pytest.approx(4.0)

    latent = TokenizerInfo("c", "image", "continuous", latent_dim=16, spatial_factor=8)
    assert item_cost(Tokens("c", (16, 16), latents=torch.zeros(1, 2, 2, 16)), latent) == {
        "tokens": 4.0,
        "bits": None,
    }


# -- data -----------------------------------------------------------------------------


def _write_images(folder, count: int, size: tuple[int, int] = (56, 40)) -> None:  # noqa: ANN001
    from PIL import Image

    rng = np.random.default_rng(8)
    for i in range(count):
        sub = folder / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        width, height = size
        ramp = np.linspace(0, 255, width)[None, :, None] * np.ones((height, 1, 3))
        pixels = np.clip(ramp + rng.normal(0, 8, (height, width, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(sub / f"img{i}.png")


def test_samples_are_sorted_and_a_limit_spreads_over_them(tmp_path) -> None:  # noqa: ANN001
    from tokenizers_zoo.benchmarks.recon_data import find_samples

    _write_images(tmp_path, 5)
    names = [s.name for s in find_samples(tmp_path, "image")]
    assert names == ["a/img1.png", "a/img3.png", "b/img0.png", "b/img2.png", "b/img4.png"]
    assert [s.name for s in find_samples(tmp_path, "image", limit=2)] == ["a/img1.png", "b/img0.png"]
    tiles = find_samples(tmp_path, "image", size=20, crop="tiles")
    assert len(tiles) == 5 * 2 * 2 and tiles[1].name == "a/img1.png@20,0"


def test_centre_crop_policy(tmp_path) -> None:  # noqa: ANN001
    from PIL import Image

    from tokenizers_zoo.benchmarks.recon_data import Sample, fit, load_image

    pixels = np.zeros((40, 80, 3), np.uint8)
    pixels[:, 20:60, 0] = 255  # red middle, black sides that the crop must drop
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    image = load_image(Sample("wide.png", tmp_path / "wide.png"), 20)
    assert image.shape == (3, 20, 20)
    assert image[0, :, 2:-2].float().mean() > 250 and image[1:].max() == 0
    assert load_image(Sample("wide.png", tmp_path / "wide.png"), 0).shape == (3, 40, 80)
    square = Image.fromarray(pixels[:, :40])
    assert np.array_equal(np.asarray(fit(square, 40)), pixels[:, :40])  # no resampling at the size


def test_modality_is_inferred_and_bad_folders_are_clear_errors(tmp_path) -> None:  # noqa: ANN001
    import tokenizers_zoo as tz
    from tokenizers_zoo.benchmarks.recon_data import find_samples, infer_modality
    from tokenizers_zoo.media.audio import write_wav

    _write_images(tmp_path / "images", 1)
    assert infer_modality(tmp_path / "images") == "image"
    (tmp_path / "images" / "clip.wav").write_bytes(write_wav(np.zeros((1, 800), np.float32), 8000))
    with pytest.raises(tz.InvalidMediaError, match="image and audio"):
        infer_modality(tmp_path / "images")
    (tmp_path / "empty").mkdir()
    with pytest.raises(tz.InvalidMediaError, match="no image, audio or video"):
        infer_modality(tmp_path / "empty")
    with pytest.raises(tz.InvalidMediaError, match="no audio files"):
        find_samples(tmp_path / "empty", "audio")
    with pytest.raises(tz.InvalidMediaError, match="does not exist"):
        find_samples(tmp_path / "missing", "image")


def _write_gif(path, frames: int, size: tuple[int, int] = (40, 32), seed: int = 9) -> None:  # noqa: ANN001
    from PIL import Image

    rng = np.random.default_rng(seed)
    width, height = size
    images = [
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)) for _ in range(frames)
    ]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)


def test_video_and_audio_loading(tmp_path) -> None:  # noqa: ANN001
    from tokenizers_zoo.benchmarks.recon_data import Sample, load_audio, load_video
    from tokenizers_zoo.media.audio import write_wav

    _write_gif(tmp_path / "clip.gif", 5)
    frames = load_video(Sample("clip.gif", tmp_path / "clip.gif"), 16, max_frames=3)
    assert frames.shape == (3, 3, 16, 16) and frames.dtype == torch.uint8
    stereo = np.stack([np.full(800, 0.5), np.full(800, -0.1)]).astype(np.float32)
    (tmp_path / "s.wav").write_bytes(write_wav(stereo, 8000))
    clip, rate = load_audio(Sample("s.wav", tmp_path / "s.wav"))
    assert rate == 8000 and clip.shape == (800,) and clip.mean().item() == pytest.approx(0.2, abs=1e-3)


# -- whole runs through the CLI ----------------------------------------------------------


def _bench(*argv: str) -> int:
    from tokenizers_zoo.cli import main

    return main(["bench", "recon", "--torch-threads", "1", *argv])


def _results(out) -> dict:  # noqa: ANN001
    import json

    return json.loads((out / "results.json").read_text())


def test_image_run_writes_every_metric_a_table_and_a_grid(tmp_path, empty_hub, capsys) -> None:  # noqa: ANN001
    _write_images(tmp_path / "data", 3)
    out = tmp_path / "out"
    code = _bench(
        "--tokenizer", "image-palette-512,image-patch-p8", "--data", str(tmp_path / "data"),
        "--size", "24", "--limit", "2", "--out", str(out),
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    results = _results(out)
    palette, patch = results["runs"]
    assert [row["sample"] for row in palette["samples"]] == ["a/img1.png", "b/img0.png"]
    row = palette["samples"][0]
    assert row["height"] == row["width"] == 24 and row["tokens"] == 24 * 24 and row["bpp"] == 9.0
    assert (
        10 < row["psnr"] < 60 and 0 < row["ssim"] < 1 and row["encode_s"] > 0 and row["decode_peak_mib"] >= 0
    )
    assert palette["codebooks"][0]["size"] == 512 and 0 < palette["summary"]["usage"] <= 1
    assert patch["samples"][0]["psnr"] == "inf" and patch["summary"]["ssim"] == pytest.approx(1.0)
    assert [r["colour_error"] for r in patch["samples"]] == [0.0, 0.0] and patch["summary"][
        "colour_error"
    ] == 0
    assert 0 < row["colour_error"] < 10 and palette["summary"]["colour_error"] > 0  # 8 levels a channel
    assert patch["kind"] == "continuous" and patch["samples"][0]["bpp"] is None
    assert "pt_inception-2015-12-05-6726825d.pth" in results["unavailable"]["rfid"]
    assert "lpips" in results["unavailable"]
    assert results["settings"]["policy"].startswith("shorter side resized to 24")
    assert results["environment"]["versions"]["torchmetrics"] and results["environment"]["cpu"]
    markdown = (out / "results.md").read_text()
    assert "| image-palette-512 | discrete | 576 | 9.000 |" in markdown and "inf (lossless)" in markdown
    assert "| SSIM | colour error | codebook usage |" in markdown and "CIEDE2000" in markdown
    flags = f"--data {tmp_path / 'data'} --limit 2 --size 24 --torch-threads 1 --out {out}"
    assert f"`tzoo bench recon --tokenizer image-palette-512,image-patch-p8 {flags}`" in markdown
    assert "| image-palette-512 |" in captured.out and "image-palette-512:" in captured.err  # table, bar
    assert (out / "recon_grid.png").stat().st_size > 0
    assert not (out / "rate_distortion.png").exists()  # one run has a bit rate


class ColourStatistics(torch.nn.Module):
    """A cheap stand-in for Inception on uint8 images: per-channel mean and spread."""

    num_features = 6

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().flatten(2)
        return torch.cat([x.mean(2), x.std(2)], 1)


def test_rfid_is_reported_per_run_when_the_weights_are_there(tmp_path, monkeypatch, capsys) -> None:  # noqa: ANN001
    from tokenizers_zoo.benchmarks import rfid
    from tokenizers_zoo.benchmarks.rfid import FrechetDistance

    found = SimpleNamespace(find=lambda given: (tmp_path / "verified.pth", ""))
    monkeypatch.setattr(rfid, "FID_WEIGHTS", found)
    monkeypatch.setattr(
        FrechetDistance, "inception", classmethod(lambda cls, w, d: cls(ColourStatistics(), d))
    )
    _write_images(tmp_path / "data", 3)
    out = tmp_path / "out"
    code = _bench(
        "--tokenizer",
        "image-patch-p8,image-palette-512",
        "--data",
        str(tmp_path / "data"),
        "--size",
        "16",
        "--out",
        str(out),
    )
    assert code == 0, capsys.readouterr().err
    patch, palette = (run["summary"] for run in _results(out)["runs"])
    assert patch["rfid"] == pytest.approx(0.0, abs=1e-6) and palette["rfid"] > 0
    markdown = (out / "results.md").read_text()
    assert "| rFID |" in markdown and "rank-deficient" in markdown


def test_lpips_from_a_local_weights_file(tmp_path, empty_hub, capsys) -> None:  # noqa: ANN001
    from safetensors.torch import save_file
    from torchvision.models import vgg16

    from tokenizers_zoo.training.losses import LPIPS

    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in vgg16().features[:30].state_dict().items()}
    state.update({f"lin{i}.weight": torch.rand(1, width, 1, 1) for i, width in enumerate(LPIPS._WIDTHS)})
    save_file(state, str(tmp_path / "lpips.safetensors"))
    _write_images(tmp_path / "data", 2)
    out = tmp_path / "out"
    code = _bench(
        "--tokenizer", "image-patch-p8,image-palette-512", "--data", str(tmp_path / "data"), "--size", "32",
        "--lpips-weights", str(tmp_path / "lpips.safetensors"), "--out", str(out),
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    results = _results(out)
    patch, palette = (run["summary"] for run in results["runs"])
    assert patch["lpips"] == 0.0 and palette["lpips"] > 0 and "lpips" not in results["unavailable"]
    assert "| LPIPS |" in (out / "results.md").read_text()


def test_audio_sweep_gives_one_run_per_bandwidth(tmp_path, capsys) -> None:  # noqa: ANN001
    from tokenizers_zoo.media.audio import write_wav
    from tokenizers_zoo.tokenizers.audio.codec import CodecConfig, NeuralAudioCodec

    config = CodecConfig(
        channels=4, ratios=(2, 2), dilations=(1,), latent_dim=8, num_quantizers=4, codebook_size=16,
        bandwidths=(16.0, 32.0, 64.0),
    )  # fmt: skip
    NeuralAudioCodec(config, name="tiny-codec").save_pretrained(tmp_path / "codec")
    (tmp_path / "data").mkdir()
    for i in range(2):
        wave = _speech_like(16000, 1.0, 10 + i)[None]
        (tmp_path / "data" / f"clip{i}.wav").write_bytes(write_wav(wave, 16000))
    out = tmp_path / "out"
    tokenizers = f"{tmp_path / 'codec'},audio-mulaw-8bit"
    code = _bench("--tokenizer", tokenizers, "--data", str(tmp_path / "data"), "--sweep", "--out", str(out))
    assert code == 0, capsys.readouterr().err
    runs = _results(out)["runs"]
    labels = [run["label"] for run in runs]
    assert labels == [
        "tiny-codec @ 16 kbps",
        "tiny-codec @ 32 kbps",
        "tiny-codec @ 64 kbps",
        "audio-mulaw-8bit",
    ]
    assert [len(run["codebooks"]) for run in runs] == [1, 2, 4, 1]
    assert [run["summary"]["kbps"] for run in runs] == pytest.approx([16, 32, 64, 128], rel=0.01)
    mulaw = runs[-1]["samples"][0]
    assert mulaw["pesq_band"] == "wb at 16000 Hz" and mulaw["pesq"] > 4 and mulaw["stoi"] > 0.8
    assert mulaw["si_snr"] > 30 and mulaw["mel_distance"] < 0.5
    assert runs[0]["checkpoint"]["weights"] == str(tmp_path / "codec")
    assert {"spectrograms.png", "rate_distortion.png"} <= {p.name for p in out.iterdir()}


def test_a_recording_pesq_cannot_score_is_recorded_not_fatal(tmp_path, capsys) -> None:  # noqa: ANN001
    from tokenizers_zoo.media.audio import write_wav

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "silence.wav").write_bytes(write_wav(np.zeros((1, 8000), np.float32), 8000))
    (tmp_path / "data" / "speech.wav").write_bytes(write_wav(_speech_like(8000, 1.0, 12)[None], 8000))
    out = tmp_path / "out"
    code = _bench("--tokenizer", "audio-mulaw-8bit", "--data", str(tmp_path / "data"), "--out", str(out))
    assert code == 0, capsys.readouterr().err
    run = _results(out)["runs"][0]
    silence, speech = run["samples"]
    assert silence["pesq"] is None and "NoUtterances" in silence["pesq_error"]
    assert speech["pesq_band"] == "nb at 8000 Hz" and run["summary"]["pesq"] == speech["pesq"]
    assert run["summary"]["samples_without"] == {"pesq": 1}
    assert "pesq missing for 1" in (out / "results.md").read_text()


@dataclass(frozen=True)
class LevelsConfig:
    levels: int = 16


class FrameLevels(Tokenizer):
    """A stand-in video tokenizer: each pixel's RGB at 16 levels, one id per pixel, frame by frame."""

    Config = LevelsConfig

    @property
    def info(self) -> TokenizerInfo:
        return TokenizerInfo(self.name, "video", "discrete", vocab_size=(self.config.levels**3,))

    def prepare(self, media, sample_rate):  # noqa: ANN001, ANN201
        return media, tuple(media.shape[2:]), None

    def encode_tensor(self, x: torch.Tensor, **options) -> torch.Tensor:  # noqa: ANN003
        n = self.config.levels
        q = ((x + 1) / 2 * (n - 1)).round().long()
        return (q[:, 0] * n + q[:, 1]) * n + q[:, 2]

    def decode_tensor(self, data: torch.Tensor, original_size, **options) -> torch.Tensor:  # noqa: ANN001, ANN003
        n = self.config.levels
        rgb = torch.stack([data // (n * n), data // n % n, data % n], 1)
        return rgb.float() / (n - 1) * 2 - 1


def test_video_run_with_a_frame_wise_tokenizer(tmp_path, capsys, monkeypatch) -> None:  # noqa: ANN001
    import tokenizers_zoo as tz
    from tokenizers_zoo import registry

    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))  # the entry below ends with the test
    tz.register("test-video-levels", FrameLevels, {}, modality="video", kind="discrete", overwrite=True)
    (tmp_path / "data").mkdir()
    for i in range(2):
        _write_gif(tmp_path / "data" / f"clip{i}.gif", 4)
    out = tmp_path / "out"
    code = _bench(
        "--tokenizer", "test-video-levels", "--data", str(tmp_path / "data"), "--size", "16",
        "--max-frames", "3", "--out", str(out),
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    results = _results(out)
    row = results["runs"][0]["samples"][0]
    assert row["frames"] == 3 and row["tokens"] == 3 * 16 * 16 and row["bpp"] == pytest.approx(12.0)
    assert 25 < row["psnr"] < 40 and 0 < row["temporal_difference_error"] < 10  # 16 levels: ~8.5 apart
    assert "I3D" in results["unavailable"]["rfvd"]
    assert "first 3 frames" in results["settings"]["policy"]
    assert (out / "recon_grid.png").is_file()


def test_ctrl_c_leaves_the_partial_results_written(tmp_path, monkeypatch, capsys) -> None:  # noqa: ANN001
    from tokenizers_zoo.tokenizers.image.patch import PatchTokenizer

    _write_images(tmp_path / "data", 4)
    calls = []
    encode = PatchTokenizer.encode_tensor

    def interrupted(self, x, **options):  # noqa: ANN001, ANN003, ANN202
        calls.append(1)
        if len(calls) == 4:  # the warm-up, two samples, then Ctrl-C in the third
            raise KeyboardInterrupt
        return encode(self, x, **options)

    monkeypatch.setattr(PatchTokenizer, "encode_tensor", interrupted)
    out = tmp_path / "out"
    code = _bench(
        "--tokenizer", "image-patch-p8", "--data", str(tmp_path / "data"), "--size", "16", "--out", str(out)
    )
    assert code == 130 and "interrupted" in capsys.readouterr().err
    run = _results(out)["runs"][0]
    assert run["status"] == "interrupted" and len(run["samples"]) == 2 and run["summary"]["samples"] == 2
    assert "image-patch-p8 (interrupted)" in (out / "results.md").read_text()
    assert (out / "recon_grid.png").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tokenizer", "no-such-tokenizer"], "no tokenizer named"),
        (["--tokenizer", "image-patch-p8,audio-mulaw-8bit"], "different modalities"),
        (["--tokenizer", "image-patch-p8", "--data", "/no/such/folder"], "does not exist"),
        (["--data", "EMPTY"], "no image, audio or video"),
        (["--tokenizer", "audio-mulaw-8bit", "--data", "IMAGES"], "no audio files"),
        (["--tokenizer", "test-no-weights"], "not found"),
        (["--tokenizer", "image-patch-p8", "--fid-weights", "WRONG"], "refusing to load it"),
        (["--tokenizer", "image-patch-p8", "--fid-weights", "/no/such.pth"], "not found"),
        (["--tokenizer", "image-patch-p8", "--lpips-weights", "/no/such.safetensors"], "not found"),
        (["--device", "cuda:99"], "cuda"),
    ],
)
def test_user_errors_exit_2_with_one_line(tmp_path, empty_hub, capsys, monkeypatch, argv, message) -> None:  # noqa: ANN001
    import tokenizers_zoo as tz
    from tokenizers_zoo import registry
    from tokenizers_zoo.tokenizers.image.palette import PaletteTokenizer

    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))  # the entry below ends with the test

    tz.register(
        "test-no-weights", PaletteTokenizer, {"num_colors": 4}, modality="image", kind="discrete",
        weights=str(tmp_path / "absent"), overwrite=True,
    )  # fmt: skip
    _write_images(tmp_path / "images", 1)
    (tmp_path / "empty").mkdir()
    (tmp_path / "wrong.pth").write_bytes(b"wrong")
    places = {"EMPTY": tmp_path / "empty", "IMAGES": tmp_path / "images", "WRONG": tmp_path / "wrong.pth"}
    argv = [str(places.get(a, a)) for a in argv]
    if "--data" not in argv:
        argv += ["--data", str(tmp_path / "images")]
    code = _bench(*argv, "--out", str(tmp_path / "out"))
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("tzoo: error:") and message in err and "Traceback" not in err


def _bench_on_data(tmp_path, *argv: str) -> int:  # noqa: ANN001
    """``tzoo bench recon`` on ``tmp_path/data``, writing to ``tmp_path/out``."""
    return _bench("--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"), *argv)


def _write_unreadable(folder) -> None:  # noqa: ANN001
    """Next to the good images: a file that is no image at all, and a PNG cut off after its header."""
    (folder / "a" / "broken.png").write_bytes(b"not a png at all")
    whole = (folder / "b" / "img0.png").read_bytes()
    (folder / "b" / "truncated.png").write_bytes(whole[: len(whole) // 2])


def test_unreadable_files_are_skipped_listed_and_exit_1(tmp_path, empty_hub, capsys) -> None:  # noqa: ANN001
    _write_images(tmp_path / "data", 3)
    _write_unreadable(tmp_path / "data")
    code = _bench_on_data(tmp_path, "--tokenizer", "image-patch-p8,image-palette-512", "--size", "16")
    err = capsys.readouterr().err
    assert code == 1, err
    out = tmp_path / "out"
    results = _results(out)
    skipped = results["skipped"]
    assert [s["path"] for s in skipped] == [
        str(tmp_path / "data" / "a" / "broken.png"),
        str(tmp_path / "data" / "b" / "truncated.png"),
    ]
    assert "not an image" in skipped[0]["reason"] and "could not be decoded" in skipped[1]["reason"]
    for run in results["runs"]:  # the first file is unreadable: the warm-up takes the next
        assert run["status"] == "complete"
        assert [row["sample"] for row in run["samples"]] == ["a/img1.png", "b/img0.png", "b/img2.png"]
    markdown = (out / "results.md").read_text()
    assert "Unreadable files skipped: 2 " in markdown
    assert f"- `{tmp_path / 'data' / 'a' / 'broken.png'}`: " in markdown
    assert "2 unreadable files skipped" in err and "Traceback" not in err
    assert (out / "recon_grid.png").is_file()


def test_unreadable_files_are_skipped_when_cutting_tiles(tmp_path, empty_hub, capsys) -> None:  # noqa: ANN001
    _write_images(tmp_path / "data", 1)
    (tmp_path / "data" / "b" / "broken.png").write_bytes(b"not a png at all")
    code = _bench_on_data(tmp_path, "--tokenizer", "image-patch-p8", "--size", "16", "--crop", "tiles")
    assert code == 1, capsys.readouterr().err
    results = _results(tmp_path / "out")
    assert [s["path"] for s in results["skipped"]] == [str(tmp_path / "data" / "b" / "broken.png")]
    assert len(results["runs"][0]["samples"]) == results["settings"]["samples"] == 3 * 2


def test_a_folder_of_only_unreadable_files_is_a_user_error(tmp_path, empty_hub, capsys) -> None:  # noqa: ANN001
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "broken.png").write_bytes(b"not a png at all")
    code = _bench_on_data(tmp_path, "--tokenizer", "image-patch-p8")
    err = capsys.readouterr().err
    assert code == 2 and "no readable image" in err and "Traceback" not in err
    assert [s["path"] for s in _results(tmp_path / "out")["skipped"]] == [
        str(tmp_path / "data" / "broken.png")
    ]


def test_an_empty_folder_names_the_data_flag(tmp_path) -> None:  # noqa: ANN001
    import tokenizers_zoo as tz
    from tokenizers_zoo.benchmarks.recon_data import infer_modality

    (tmp_path / "empty").mkdir()
    with pytest.raises(tz.InvalidMediaError) as caught:
        infer_modality(tmp_path / "empty")
    assert "--data" in str(caught.value) and "--tokenizer" not in str(caught.value)
