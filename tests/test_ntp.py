"""The NTP backbone at tiny sizes: the KV cache changes nothing but speed, sampling rules,
exact resume, and the CLI's answers to bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from ntp_helpers import CORPUS, tiny_text_config

from tokenizers_zoo.cli import main
from tokenizers_zoo.ntp.model import Transformer, TransformerConfig
from tokenizers_zoo.ntp.sample import generate, pick
from tokenizers_zoo.ntp.text import TextVocabulary
from tokenizers_zoo.ntp.train import load_ntp_config, train


def _tiny(vocab: int = 40, block: int = 48) -> Transformer:
    torch.manual_seed(0)
    return Transformer(TransformerConfig(vocab_size=vocab, n_layer=2, n_head=2, d_model=32, block_size=block))


def test_greedy_ids_are_the_same_with_and_without_the_cache() -> None:
    model = _tiny()
    prompt = torch.randint(0, 40, (3, 5), generator=torch.Generator().manual_seed(1))
    cached = generate(model, prompt, 40, temperature=0, use_cache=True)
    uncached = generate(model, prompt, 40, temperature=0, use_cache=False)
    assert cached.shape == (3, 45) and torch.equal(cached, uncached)
    # Cached logits equal a full pass, position by position.
    cache = model.new_cache(3)
    stepwise = torch.cat([model(cached[:, i : i + 1], cache) for i in range(20)], dim=1)
    torch.testing.assert_close(stepwise, model(cached[:, :20]), rtol=1e-4, atol=1e-5)


def test_sampling_rules() -> None:
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]])
    assert pick(logits, temperature=0).tolist() == [1]
    generator = torch.Generator().manual_seed(0)
    assert {int(pick(logits, 1.0, top_k=1, generator=generator)) for _ in range(20)} == {1}
    assert {int(pick(logits, 1.0, top_p=0.1, generator=generator)) for _ in range(20)} == {1}
    assert {int(pick(logits, 1.0, top_k=2, generator=generator)) for _ in range(200)} == {1, 3}
    with pytest.raises(ValueError, match="block_size"):
        generate(_tiny(block=8), torch.zeros(1, 4, dtype=torch.long), 6)


def test_text_vocabularies_round_trip() -> None:
    chars = TextVocabulary.from_corpus(CORPUS)
    assert chars.decode(chars.encode("lazy fox")) == "lazy fox"
    assert TextVocabulary.from_dict(chars.to_dict()) == chars
    raw = TextVocabulary()
    assert raw.size == 256 and raw.decode(raw.encode("café")) == "café"


def _config(tmp_path: Path, run: str) -> object:
    optim = "max_steps: 200, warmup_steps: 10, batch_size: 4"
    runs = f"dir: {tmp_path / run}, eval_every: 50, eval_batches: 2, checkpoint_every: 50"
    return load_ntp_config(tiny_text_config(tmp_path, optim, runs))


def test_resume_gives_the_uninterrupted_runs_log_bit_for_bit(tmp_path: Path) -> None:
    whole = _config(tmp_path, "whole")
    train(whole, log=lambda line: None)
    pieces = _config(tmp_path, "pieces")
    train(pieces, until=100, log=lambda line: None)  # as if stopped after the step-100 checkpoint
    train(pieces, log=lambda line: None)
    log_whole = (tmp_path / "whole" / "log.jsonl").read_text()
    assert (tmp_path / "pieces" / "log.jsonl").read_text() == log_whole
    records = [json.loads(line) for line in log_whole.splitlines()]
    assert [r["step"] for r in records] == list(range(1, 201))
    assert records[-1]["val_loss"] < records[49]["val_loss"]  # it learns


def test_ema_weights_are_saved_resumed_and_sampled(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from tokenizers_zoo.ntp.train import load_model

    whole = _config(tmp_path, "ema-whole")
    ema = ["run.ema_decay=0.9", "optim.max_steps=40"]
    train(load_ntp_config(tmp_path / "tiny.yaml", [*ema, f"run.dir={whole.run.dir}"]), log=lambda line: None)
    pieces = load_ntp_config(tmp_path / "tiny.yaml", [*ema, f"run.dir={tmp_path / 'ema-pieces'}"])
    train(pieces, until=20, log=lambda line: None)
    train(pieces, log=lambda line: None)
    log = (tmp_path / "ema-whole" / "log.jsonl").read_text()
    assert (tmp_path / "ema-pieces" / "log.jsonl").read_text() == log  # the EMA resumes too
    last = json.loads(log.splitlines()[-1])
    assert last["val_loss_ema"] != last["val_loss"]
    run = tmp_path / "ema-whole"
    model, _, meta = load_model(run)
    assert meta["weights"] == "ema.safetensors"
    ema_weights, raw = load_file(str(run / "ema.safetensors")), load_file(str(run / "model.safetensors"))
    assert torch.equal(model.embed.weight, ema_weights["embed.weight"])
    assert not torch.equal(ema_weights["embed.weight"], raw["embed.weight"])
    assert load_model(run, ema=False)[2]["weights"] == "model.safetensors"


def test_train_and_sample_through_the_cli(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    cfg = _config(tmp_path, "cli")
    config = tmp_path / "tiny.yaml"
    assert main(["train-ntp", "--config", str(config), "optim.max_steps=60"]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 60
    run = str(cfg.run.dir)
    assert main(["sample", "--checkpoint", run, "--prompt", "the ", "--max-new-tokens", "10", "-n", "2"]) == 0
    samples = capsys.readouterr().out.split("---\n")
    assert len(samples) == 3 and all(s.startswith("the ") and len(s) == 15 for s in samples[:2])
    cases = [
        (["sample", "--checkpoint", run, "--prompt", "ZZZ"], "not in the vocabulary"),
        (["sample", "--checkpoint", str(tmp_path / "nothing")], "is not an NTP checkpoint"),
        (["sample", "--checkpoint", run, "--class", "1"], "is a text model: --class, --cfg and -o"),
        (["train-ntp", "--config", str(config), "optim.nonsense=1"], "nonsense"),
        (["train-ntp", "--config", str(config), "oops"], "is not section.key=value"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("tzoo: error:") and message in err and err.count("\n") == 1


def test_one_trainer_per_run_directory(tmp_path: Path) -> None:
    from tokenizers_zoo.training.run_dir import RunDirInUseError, locked

    cfg = _config(tmp_path, "busy")
    with locked(Path(cfg.run.dir)), pytest.raises(RunDirInUseError, match="in use by another trainer"):
        train(cfg, log=lambda line: None)
