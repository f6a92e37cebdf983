"""The NTP trainer's GPU paths at a tiny size (skipped without CUDA): bf16 autocast,
torch.compile, the flash attention kernel, and FSDP through torchrun on one GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ntp_helpers import tiny_text_config

from tokenizers_zoo.ntp.model import Transformer, TransformerConfig
from tokenizers_zoo.ntp.train import load_ntp_config, train

pytestmark = pytest.mark.gpu


def _config(tmp_path: Path) -> Path:
    optim = "max_steps: 30, warmup_steps: 5, batch_size: 8"
    return tiny_text_config(
        tmp_path, optim, "device: cuda, eval_every: 10, eval_batches: 2, checkpoint_every: 30"
    )


def _losses(tmp_path: Path, run: str, *overrides: str) -> list[dict]:
    cfg = load_ntp_config(tmp_path / "tiny.yaml", [f"run.dir={tmp_path / run}", *overrides])
    train(cfg, log=lambda line: None)
    return [json.loads(line) for line in (tmp_path / run / "log.jsonl").read_text().splitlines()]


def test_bf16_autocast_trains_as_fp32_does(tmp_path: Path) -> None:
    _config(tmp_path)
    fp32 = _losses(tmp_path, "fp32", "run.autocast=none")
    bf16 = _losses(tmp_path, "bf16", "run.autocast=bf16")
    assert abs(bf16[0]["loss"] - fp32[0]["loss"]) < 2e-2
    assert bf16[-1]["val_loss"] < bf16[0]["loss"] - 0.3  # it learns in bf16
    assert abs(bf16[-1]["val_loss"] - fp32[-1]["val_loss"]) < 0.1


def test_compiled_training_gives_the_eager_losses(tmp_path: Path) -> None:
    _config(tmp_path)
    eager = _losses(tmp_path, "eager")
    compiled = _losses(tmp_path, "compiled", "run.compile=true")
    for a, b in zip(eager, compiled, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-3, (a, b)


def test_causal_attention_runs_on_the_flash_kernel() -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=64, n_layer=2, n_head=2, d_model=64, block_size=128)
    model = Transformer(config).cuda().to(torch.bfloat16).eval()
    ids = torch.randint(0, 64, (2, 128), device="cuda")
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):  # raises if flash cannot take these inputs
        flash = model(ids)
    with sdpa_kernel(SDPBackend.MATH):
        math = model(ids)
    torch.testing.assert_close(flash.float(), math.float(), rtol=5e-2, atol=5e-2)


def test_fsdp_through_torchrun_on_one_gpu(tmp_path: Path) -> None:
    config = _config(tmp_path)
    single = _losses(tmp_path, "single")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1"]
    command += ["-m", "tokenizers_zoo.cli", "train-ntp", "--config", str(config)]
    command += [f"run.dir={tmp_path / 'fsdp'}", "run.parallel=fsdp"]
    done = subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    sharded = [json.loads(line) for line in (tmp_path / "fsdp" / "log.jsonl").read_text().splitlines()]
    for a, b in zip(single, sharded, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-4, (a, b)
