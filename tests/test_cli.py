"""``tzoo``: clear messages and exit codes, never a traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from audio_helpers import tiny_codec

import tokenizers_zoo as tz
from tokenizers_zoo.cli import main


def test_list_and_json(capsys) -> None:  # noqa: ANN001
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert (
        "* image-fsq-f8-64k-six" in out
        and "  image-fsq-f8-64k " in out
        and "* image-kl-f8-c16-six" in out
        and "audio-mulaw-8bit" in out
    )
    assert "* audio-rvq-16khz-six" in out and "  audio-rvq-16khz " in out  # the one-voice codec, not starred
    assert "  image-fsq-f8-4k" in out and "  image-kl-f8-c16 " in out  # former defaults, not starred
    assert "64000 codes" in out and "4375 codes" in out and "f8" in out  # facts from each info
    assert "12 codebooks of 1024, hop 320" in out  # a residual stack, not "1024x1024x..."
    assert main(["list", "--modality", "audio", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == tz.list_tokenizers(modality="audio")


def test_info_json(capsys) -> None:  # noqa: ANN001
    assert main(["info", "image-patch-p16", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["latent_dim"] == 768 and info["spatial_factor"] == 16 and info["kind"] == "continuous"


def test_demo_round_trips(capsys) -> None:  # noqa: ANN001
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "coffee_256.png (256, 256)" in out  # a real photo, not a synthetic pattern
    assert "image-fsq-f8-64k" in out and "image-kl-f8-c16" in out and "(1, 32, 32)" in out
    assert "audio-rvq-16khz" in out and "(1, 12, 60)" in out and "audio-mel-80" in out
    psnr = [float(v) for v in re.findall(r"PSNR ([0-9.]+) dB", out)]
    stoi = [float(v) for v in re.findall(r"STOI ([0-9.]+)", out)]
    assert len(psnr) == 2 and min(psnr) > 20  # the shipped weights, not random ones
    assert len(stoi) == 2 and min(stoi) > 0.85
    assert "README's quality table" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["info", "no-such-tokenizer"], "no tokenizer named"),
        (["demo", "--image", "/no/such/file.png"], "cannot open image"),
        (["info", "image-patch-p16", "--weights", "/no/such/dir"], None),
    ],
)
def test_user_errors_exit_2_with_one_line(argv: list[str], message: str | None, capsys) -> None:  # noqa: ANN001
    code = main(argv)
    err = capsys.readouterr().err
    if message is None:  # a parameter-free tokenizer ignores weights: no error
        assert code == 0
        return
    assert code == 2
    assert err.startswith("tzoo: error:") and message in err and "Traceback" not in err


def test_console_script_prints_no_traceback(tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    env = {k: v for k, v in os.environ.items() if k != "TZOO_DEBUG"}
    proc = subprocess.run(
        [sys.executable, "-m", "tokenizers_zoo.cli", "demo", "--image", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "not an image" in proc.stderr and "Traceback" not in proc.stderr


def test_closed_stdout_ends_quietly(tmp_path) -> None:  # noqa: ANN001
    """``tzoo list | head -1``: the reader leaves early; no "internal error", exit as cat would."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tokenizers_zoo.cli", "list"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (141, "")


def test_other_broken_pipes_are_still_reported(monkeypatch, capsys) -> None:  # noqa: ANN001
    from tokenizers_zoo.cli import catalog

    def fails(args) -> int:  # noqa: ANN001
        raise BrokenPipeError("a socket, not stdout")

    monkeypatch.setattr(catalog, "list_command", fails)
    assert main(["list"]) == 1
    assert "internal error: BrokenPipeError: a socket, not stdout" in capsys.readouterr().err


def test_argparse_errors_exit_2(capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as info:
        main(["list", "--modality", "text"])
    assert info.value.code == 2


def test_eval_tokenizer_reports_the_colour_error_beside_psnr(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from PIL import Image

    (tmp_path / "images").mkdir()
    y, x = np.mgrid[0:32, 0:48]
    pixels = np.stack([x * 5, y * 7, 255 - x * 5], -1).clip(0, 255).astype(np.uint8)  # smooth colours
    Image.fromarray(pixels).save(tmp_path / "images" / "a.png")
    args = ["--data", str(tmp_path / "images"), "--size", "16"]
    assert main(["eval-tokenizer", "image-patch-p8", *args]) == 0  # exact
    exact = json.loads(capsys.readouterr().out)
    assert list(exact)[3:5] == ["psnr", "colour_error"] and exact["tiles"] == 6.0
    assert exact["psnr"] == 99.0 and exact["colour_error"] == 0.0
    assert main(["eval-tokenizer", "image-palette-512", *args]) == 0  # 8 levels a channel
    assert 0 < json.loads(capsys.readouterr().out)["colour_error"] < 10


def test_eval_tokenizer_scores_speech_at_every_bitrate(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from tokenizers_zoo.media.audio import write_wav

    (tmp_path / "speech").mkdir()
    t = np.arange(16000) / 16000
    voice = (0.3 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    (tmp_path / "speech" / "a.wav").write_bytes(write_wav(voice[None], 16000))
    assert main(["eval-tokenizer", "audio-mulaw-8bit", "--data", str(tmp_path / "speech")]) == 0
    row = json.loads(capsys.readouterr().out)["results"][0]
    assert row["si_snr"] > 30 and row["stoi"] > 0.8 and 1.0 <= row["pesq"] <= 4.65  # PESQ needs speech

    codec = tiny_codec()
    codec.save_pretrained(tmp_path / "codec")
    args = ["eval-tokenizer", str(tmp_path / "codec"), "--data", str(tmp_path / "speech")]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert [r["kbps"] for r in rows] == [16.0, 32.0, 64.0]
    assert main([*args, "--bandwidth", "32"]) == 0
    assert [r["kbps"] for r in json.loads(capsys.readouterr().out)["results"]] == [32.0]
    assert main(["eval-tokenizer", "audio-mulaw-8bit", "--data", str(tmp_path / "nothing")]) != 0
    assert "does not exist" in capsys.readouterr().err


def test_client_without_a_server_prints_one_clear_line(tmp_path: Path) -> None:
    from tokenizers_zoo.service.local import free_port

    url = f"http://127.0.0.1:{free_port()}"
    for command in (["list"], ["ready"]):
        proc = subprocess.run(
            [sys.executable, "-m", "tokenizers_zoo.cli", "client", "--url", url, *command],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
        assert proc.returncode == 1
        assert proc.stderr == f"tzoo: error: cannot reach {url}: connection refused; is tzoo serve running?\n"


def test_client_with_a_wrong_url_or_a_silent_server_says_so(capsys) -> None:  # noqa: ANN001
    import socket

    assert main(["client", "--url", "localhost:8000", "list"]) == 1
    assert capsys.readouterr().err == (
        "tzoo: error: localhost:8000 is not a URL a client can call (try http://HOST:PORT)\n"
    )
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        assert main(["client", "--url", url, "--timeout", "0.5", "list"]) == 1
    assert capsys.readouterr().err == f"tzoo: error: no answer from {url} within 0.5 s (timeout)\n"


def test_sdk_raises_a_typed_error_when_nothing_answers() -> None:
    from tokenizers_zoo.service.client import Client, ServiceUnreachableError
    from tokenizers_zoo.service.local import free_port

    with Client(f"http://127.0.0.1:{free_port()}", retries=0) as client:
        with pytest.raises(ServiceUnreachableError, match="connection refused"):
            client.encode("image-fsq-f8-4k", b"\x89PNG\r\n\x1a\n")
        with pytest.raises(tz.TokenizersZooError):
            client.ready()


def _photo(tmp_path: Path, name: str = "in.png") -> Path:
    from PIL import Image

    path = tmp_path / name
    Image.radial_gradient("L").convert("RGB").resize((32, 24)).save(path)
    return path


def test_encode_refuses_what_it_cannot_read_or_write_before_loading(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    photo = _photo(tmp_path)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # reading it would hang until someone writes
    cases = [
        ([str(photo), "-o", str(tmp_path / "missing" / "t.json")], "folder"),
        ([str(fifo), "-o", str(tmp_path / "t.json")], "is not a regular file"),
        ([str(photo), "-o", str(tmp_path / "t.json"), "--max-bytes", "100"], "over the limit of 100"),
        ([str(tmp_path / "nothing.png"), "-o", str(tmp_path / "t.json")], "No such file"),
    ]
    for args, message in cases:
        assert main(["encode", "image-fsq-f8-4k", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "internal error" not in err
    assert not (tmp_path / "t.json").exists()


def test_decode_writes_every_item_of_a_batch(tmp_path: Path) -> None:
    from tokenizers_zoo.wire import save_tokens

    tok = tz.load("image-patch-p8")
    tokens = tok.encode([np.full((16, 24, 3), value, dtype=np.uint8) for value in (40, 200)])
    save_tokens(tmp_path / "two.json", tokens.to_encoded())
    assert len(tokens) == 2
    assert (
        main(["decode", "image-patch-p8", str(tmp_path / "two.json"), "-o", str(tmp_path / "out.png")]) == 0
    )
    assert sorted(p.name for p in tmp_path.glob("out*.png")) == ["out_0.png", "out_1.png"]


def test_encode_takes_a_bandwidth(tmp_path: Path) -> None:
    from tokenizers_zoo.media.audio import write_wav
    from tokenizers_zoo.wire import load_tokens

    wav = tmp_path / "a.wav"
    wav.write_bytes(write_wav(np.zeros((1, 3200), np.float32), 16000))
    out = tmp_path / "t.npy"
    assert main(["encode", "audio-rvq-16khz", str(wav), "-o", str(out), "--bandwidth", "1.5"]) == 0
    tokens = load_tokens(out)
    assert tokens.shape == (1, 3, 10) and tokens.extras["bandwidth"] == 1.5


def test_encode_errors_name_the_file_in_the_clis_words(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from tokenizers_zoo.media.audio import write_wav

    (tmp_path / "garbage.png").write_text("not an image")
    (tmp_path / "text.wav").write_text("not audio either")
    (tmp_path / "speech.wav").write_bytes(write_wav(np.zeros((1, 1600), np.float32), 16000))
    cases = [
        ("image-fsq-f8-4k", "garbage.png", "garbage.png: not a PNG image, as its type image/png says"),
        ("audio-rvq-16khz", "text.wav", "text.wav: not a readable wav file: Invalid data found"),
        (
            "image-fsq-f8-4k",
            "speech.wav",
            "speech.wav is audio/wav; image-fsq-f8-4k encodes image files (.bmp,",
        ),
    ]
    for name, file, message in cases:
        assert main(["encode", name, str(tmp_path / file), "-o", str(tmp_path / "t.json")]) == 2
        err = capsys.readouterr().err
        assert message in err and " object at 0x" not in err and "Errno" not in err and "<none>" not in err


def test_audio_tokenizers_take_paths_and_file_objects(tmp_path: Path) -> None:
    from tokenizers_zoo.media.audio import read_audio, write_wav

    wave = (0.1 * np.sin(np.arange(4000) / 5)).astype(np.float32)[None]
    path = tmp_path / "speech.wav"
    path.write_bytes(write_wav(wave, 8000))
    samples, rate = read_audio(path)  # the format from the suffix
    assert rate == 8000 and samples.shape == (1, 4000)
    assert read_audio(path.read_bytes())[1] == 8000  # from the magic number
    tok = tz.load("audio-rvq-16khz")
    by_path = tok.encode(str(path))
    with path.open("rb") as f:
        by_file = tok.encode(f)
    by_array = tok.encode(samples, sample_rate=8000)
    assert by_path.original_size == (8000,)  # resampled to 16 kHz
    assert torch_equal(by_path.ids, by_file.ids) and torch_equal(by_path.ids, by_array.ids)
    with pytest.raises(tz.InvalidMediaError, match="the file is at 8000 Hz"):
        tok.encode(path, sample_rate=16000)


def torch_equal(a, b) -> bool:  # noqa: ANN001
    return bool((a == b).all())
