"""The NTP trainer on two gloo processes on CPU (torchrun): with the same global batch, DDP
and FSDP log the single process's losses and end with its weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ntp_helpers import tiny_text_config
from safetensors.torch import load_file

from tokenizers_zoo.ntp.distributed import DistributedConfigError, Processes
from tokenizers_zoo.ntp.train import load_ntp_config, train


def _config(tmp_path: Path) -> Path:
    optim = "max_steps: 6, warmup_steps: 2, batch_size: 4, accumulate: 2"
    run = "eval_every: 3, eval_batches: 2, checkpoint_every: 3, threads: 1"
    return tiny_text_config(tmp_path, optim, run)


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_give_the_single_process_loss(tmp_path: Path, parallel: str) -> None:
    config = _config(tmp_path)
    train(load_ntp_config(config, [f"run.dir={tmp_path / 'one'}"]), log=lambda line: None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += ["-m", "tokenizers_zoo.cli", "train-ntp", "--config", str(config)]
    command += [f"run.dir={tmp_path / 'two'}", f"run.parallel={parallel}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"2 processes ({parallel})" in done.stderr
    one, two = _log(tmp_path / "one"), _log(tmp_path / "two")
    assert [r["step"] for r in two] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(one, two, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-5, (a, b)
        assert abs(a.get("val_loss", 0) - b.get("val_loss", 0)) < 1e-5, (a, b)
    assert one[-1]["loss"] != one[0]["loss"]  # the steps moved the weights
    weights_one = load_file(str(tmp_path / "one" / "model.safetensors"))
    weights_two = load_file(str(tmp_path / "two" / "model.safetensors"))
    assert weights_one.keys() == weights_two.keys()
    for name, value in weights_one.items():
        torch.testing.assert_close(weights_two[name], value, rtol=0, atol=1e-5, msg=name)


def test_a_step_splits_into_equal_shares_of_micro_batches() -> None:
    assert [Processes(rank, 2).share(4) for rank in (0, 1)] == [(0, 2), (2, 2)]
    with pytest.raises(DistributedConfigError, match="accumulate 3 must be a multiple of the 2 processes"):
        Processes(1, 2).share(3)
