"""The run directory under failure: crashes mid-export, resumes, signals, two trainers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_training import write_config

import tokenizers_zoo as tz
import tokenizers_zoo.tokenizer as tokenizer_module
from tokenizers_zoo.training import run_dir as run_dir_module
from tokenizers_zoo.training.config import load_config
from tokenizers_zoo.training.train import STATE_FILE, train


def export_step(export: Path) -> int:
    return json.loads((export / "config.json").read_text())["training"]["step"]


def leftovers(run: Path) -> list[str]:
    return sorted(p.name for p in run.iterdir() if p.name.endswith((".new", ".old", ".tmp")))


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
    assert "starting from step 9 (checkpoint), training to step 10: 1 step" in capsys.readouterr().err
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


def test_a_crash_while_writing_the_export_keeps_the_old_one_whole(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    cfg = load_config(write_config(tmp_path))
    export = train(cfg, steps=2)
    before = tz.load(str(export)).state_dict()

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tokenizer_module, "save_file", disk_full)
    with pytest.raises(OSError, match="No space"):
        train(cfg, steps=2)  # the checkpoint at step 4 fails half-way through the export
    monkeypatch.undo()
    assert export_step(export) == 2  # config.json still names the weights beside it
    after = tz.load(str(export)).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert (tmp_path / "run" / "export.new").exists()  # the half-written one, until the next start
    train(cfg, steps=0)
    assert leftovers(tmp_path / "run") == []


def test_a_crash_between_the_renames_leaves_a_whole_export(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    cfg = load_config(write_config(tmp_path))
    export = train(cfg, steps=2)
    renames = []
    real_rename = run_dir_module.os.rename

    def crash_on_second(src: object, dst: object) -> None:
        renames.append(dst)
        if len(renames) == 2:  # the old export is moved away, the new one not yet in
            raise KeyboardInterrupt
        real_rename(src, dst)

    monkeypatch.setattr(run_dir_module.os, "rename", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, steps=2)
    monkeypatch.undo()
    assert not export.exists() and export_step(tmp_path / "run" / "export.old") == 2
    train(cfg, steps=0)  # the next start puts the old export back
    assert export_step(export) == 2
    assert train(cfg, steps=1) == export and export_step(export) == 3  # the state stayed at step 2


def test_stale_temporaries_of_a_killed_run_are_removed_at_start(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path))
    train(cfg, steps=2)
    run = tmp_path / "run"
    (run / "train_state.pt.tmp").write_bytes(b"\0" * 1000)  # torch.save killed half-way
    (run / "train_state.tmp").write_bytes(b"\0" * 1000)  # the same, from before the rename
    (run / "export.new").mkdir()
    (run / "export.new" / "model.safetensors").write_bytes(b"")
    train(cfg, steps=1)
    assert leftovers(run) == []
    assert torch.load(run / STATE_FILE, weights_only=True)["step"] == 3


def test_a_second_trainer_on_a_run_dir_is_refused_and_a_stale_lock_is_not(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    import fcntl

    from tokenizers_zoo.cli import main

    config = str(write_config(tmp_path))
    lock_file = tmp_path / "run" / "train.lock"
    lock_file.parent.mkdir()
    lock_file.write_text("999999999\n")  # left by a killed trainer: no one holds it
    assert main(["train-tokenizer", "--config", config, "--steps", "1"]) == 0
    with lock_file.open("a") as held:  # the lock is free again after a run
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # now "another trainer" holds it
        capsys.readouterr()
        assert main(["train-tokenizer", "--config", config, "--steps", "1"]) == 2
        err = capsys.readouterr().err
    assert err.startswith(f"tzoo: error: run dir {tmp_path / 'run'} is in use by another trainer")
    assert len(err.splitlines()) == 1
    assert torch.load(tmp_path / "run" / STATE_FILE, weights_only=True)["step"] == 1


def test_a_resumed_run_logs_each_step_once(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from tokenizers_zoo.training import train as train_module

    cfg = load_config(write_config(tmp_path))  # checkpoints at 2, 4, 6; evaluations at 3, 6
    real_update, calls = train_module.update_ema, []

    def crash_in_step_6(*args: object) -> None:
        calls.append(1)
        if len(calls) == 6:
            raise RuntimeError("killed")
        real_update(*args)

    monkeypatch.setattr(train_module, "update_ema", crash_in_step_6)
    with pytest.raises(RuntimeError, match="killed"):
        train(cfg)  # step 5 is logged, the last checkpoint is step 4
    monkeypatch.undo()
    train(cfg)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "eval" not in r] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in log if "eval" in r] == [3, 6]


def test_truncating_the_log_drops_later_steps_and_a_line_cut_short(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1}\n{"step": 2, "eval": {}}\n{"step": 3}\n{"st')
    assert run_dir_module.truncate_log(log, 2) == 2
    assert log.read_text() == '{"step": 1}\n{"step": 2, "eval": {}}\n'
    assert run_dir_module.truncate_log(log, 2) == 0 and leftovers(tmp_path) == []


@pytest.fixture
def signal_at_step(monkeypatch):  # noqa: ANN001, ANN201
    """``signal_at_step(signum, step)``: the trainer receives ``signum`` while it trains
    ``step`` (0-based); without a handler of its own the test fails instead of dying."""
    from tokenizers_zoo.training import train as train_module

    def unhandled(signum: int, frame: object) -> None:
        raise RuntimeError(f"the trainer did not handle {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, unhandled)

    def arm(signum: int, at: int) -> None:
        real_lr_at, sent = train_module.lr_at, []

        def lr_at(step: int, cfg: object) -> float:
            if step == at and not sent:
                sent.append(signum)
                os.kill(os.getpid(), signum)
            return real_lr_at(step, cfg)

        monkeypatch.setattr(train_module, "lr_at", lr_at)

    yield arm
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_checkpoints_the_current_step_and_exits_143(tmp_path: Path, signal_at_step, capsys) -> None:  # noqa: ANN001
    from tokenizers_zoo.cli import main

    signal_at_step(signal.SIGTERM, 2)
    config = str(write_config(tmp_path / "b"))  # checkpoints every 2 steps
    assert main(["train-tokenizer", "--config", config]) == 143
    err = capsys.readouterr().err
    assert "SIGTERM: checkpointing step 3, then stopping" in err
    assert "tzoo: stopped by SIGTERM at step 3, checkpointed" in err and "evaluating at step 3" not in err
    assert torch.load(tmp_path / "b" / "run" / STATE_FILE, weights_only=True)["step"] == 3
    assert export_step(tmp_path / "b" / "run" / "export") == 3
    assert signal.getsignal(signal.SIGTERM).__name__ == "unhandled"  # put back after the run
    train(load_config(config))  # resumes at 3: the same weights as a run that never stopped
    train(load_config(write_config(tmp_path / "a")))
    a = torch.load(tmp_path / "a" / "run" / STATE_FILE, weights_only=True)
    b = torch.load(tmp_path / "b" / "run" / STATE_FILE, weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_a_stop_whose_checkpoint_fails_says_what_will_be_redone(
    tmp_path: Path, signal_at_step, monkeypatch, capsys
) -> None:  # noqa: ANN001, E501
    from tokenizers_zoo.training import train as train_module
    from tokenizers_zoo.training.train import TrainingInterrupted

    cfg = load_config(write_config(tmp_path, run__checkpoint_every=100))
    train(cfg, steps=2)

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(train_module, "_save_checkpoint", full_disk)
    signal_at_step(signal.SIGTERM, 3)  # in step 4
    with pytest.raises(TrainingInterrupted, match="stopped by SIGTERM at step 4: .*No space") as stopped:
        train(cfg)
    assert stopped.value.exit_code == 143
    assert "last checkpoint: step 2, 2 steps will be redone" in capsys.readouterr().err
    assert torch.load(tmp_path / "run" / STATE_FILE, weights_only=True)["step"] == 2


def test_ctrl_c_in_a_real_process_checkpoints_and_exits_130(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, optim__max_steps=1000, run__checkpoint_every=1000, run__eval_every=1000, run__log_every=1
    )
    child = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from tokenizers_zoo.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child, "train-tokenizer", "--config", str(config)],
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    try:
        for line in proc.stderr:  # wait until it has trained a few steps
            seen.append(line)
            if re.search(r"\] [3-9]/1000 ", line):
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    stopped = re.search(r"tzoo: stopped by SIGINT at step (\d+), checkpointed", rest)
    assert proc.returncode == 130 and stopped, "".join(seen) + rest
    assert torch.load(tmp_path / "run" / STATE_FILE, weights_only=True)["step"] == int(stopped[1])


def test_progress_shows_up_between_logged_steps_and_names_evals_and_exports(
    tmp_path: Path, monkeypatch, capsys
) -> None:  # noqa: ANN001, E501
    from tokenizers_zoo.training import train as train_module

    monkeypatch.setattr(train_module, "PROGRESS_EVERY_S", 0.0)
    train(load_config(write_config(tmp_path, run__log_every=100)))
    err = capsys.readouterr().err
    assert [int(n) for n in re.findall(r"\] (\d)/6 ", err)] == [1, 2, 3, 4, 5, 6, 6]  # 6 also logged
    assert "exporting step 2..." in err and "evaluating at step 3..." in err
