"""The run directory under failure: crashes mid-export, resumes, signals, two trainers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_training import write_config

from tokenizers_zoo.training.config import load_config
from tokenizers_zoo.training.train import train


def export_step(export: Path) -> int:
    return json.loads((export / "config.json").read_text())["training"]["step"]


def test_init_from_an_export_at_max_steps_trains_the_steps_asked_for(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from tokenizers_zoo.cli import main

    export = train(load_config(write_config(tmp_path / "a")))  # at the config's max_steps, 6
    config = str(write_config(tmp_path / "b"))
    capsys.readouterr()
    assert main(["train-tokenizer", "--config", config, "--init-from", str(export), "--max-steps", "3"]) == 0
    out, err = capsys.readouterr()
    assert "--max-steps is deprecated" in err
    assert f"starting from step 6 (init-from {export}), training to step 9: 3 steps" in err
    assert export_step(tmp_path / "b" / "run" / "export") == 9
    assert out == f"exported tiny-fsq to {tmp_path / 'b' / 'run' / 'export'}\n"
    assert main(["train-tokenizer", "--config", config, "--until", "10"]) == 0
    assert "starting from step 9 (checkpoint), training to step 10: 1 steps" in capsys.readouterr().err
    assert export_step(tmp_path / "b" / "run" / "export") == 10


def test_nothing_to_train_says_so_and_claims_no_export(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from tokenizers_zoo.cli import main

    export = train(load_config(write_config(tmp_path / "a")))
    config = str(write_config(tmp_path / "b"))
    capsys.readouterr()
    assert main(["train-tokenizer", "--config", config, "--init-from", str(export)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "run is already at step 6 >= 6; nothing to train. Pass --steps N or --until N" in err
    assert not (tmp_path / "b" / "run" / "export").exists()
    with pytest.raises(SystemExit) as usage:  # one or the other
        main(["train-tokenizer", "--config", config, "--steps", "1", "--until", "3"])
    assert usage.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_the_start_says_what_will_happen_and_then_how_long(tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    from tokenizers_zoo.training import train as train_module

    monkeypatch.setattr(train_module, "ESTIMATE_AFTER", 2)
    train(load_config(write_config(tmp_path)), steps=4)
    err = capsys.readouterr().err
    assert "starting from step 0 (scratch), training to step 4: 4 steps" in err
    assert "2 steps took " in err and "s/step): about " in err and "more to step 4" in err
