"""``tzoo``: clear messages and exit codes, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import tokenizers_zoo as tz
from tokenizers_zoo.cli import main


def test_list_and_json(capsys) -> None:  # noqa: ANN001
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "* image-fsq-f8-4k" in out and "* image-kl-f8-c16" in out and "audio-mulaw-8bit" in out
    assert "4375 codes" in out and "f8" in out  # token facts come from each tokenizer's info
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
    assert "image-fsq-f8-4k" in out and "image-kl-f8-c16" in out and "PSNR" in out
    assert "audio-mulaw-8bit" in out and "(1, 1, 16000)" in out


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


def test_argparse_errors_exit_2(capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as info:
        main(["list", "--modality", "text"])
    assert info.value.code == 2
