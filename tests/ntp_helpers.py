"""What the NTP tests share: a tiny text corpus and trainer config, untrained checkpoints."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

CORPUS = "the quick brown fox jumps over the lazy dog; " * 60


def tiny_text_config(tmp_path: Path, optim: str, run: str) -> Path:
    """``tmp_path/tiny.yaml``: a 2-layer character model of ``CORPUS``; ``optim`` and ``run``
    are the bodies of those sections' YAML mappings."""
    (tmp_path / "corpus.txt").write_text(CORPUS)
    config = tmp_path / "tiny.yaml"
    config.write_text(
        "name: tiny\n"
        f"data: {{text: {tmp_path / 'corpus.txt'}, vocab: chars}}\n"
        "model: {n_layer: 2, n_head: 2, d_model: 32, block_size: 32}\n"
        f"optim: {{{optim}}}\n"
        f"run: {{{run}}}\n"
    )
    return config


def random_checkpoint(
    run_dir: Path, vocab: Any, data_format: str, block: int, labels: Sequence[str] = ()
) -> Path:
    """A checkpoint of an untrained 2-layer model over ``vocab``, as ``train-ntp`` writes one
    (``data_format`` "text" for a text model): what serving and sampling need, in no time."""
    import torch

    from tokenizers_zoo.ntp.data import NTPData
    from tokenizers_zoo.ntp.model import Transformer, TransformerConfig
    from tokenizers_zoo.ntp.train import NTPTrainConfig, save_checkpoint

    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=vocab.size, n_layer=2, n_head=2, d_model=32, block_size=block)
    model = Transformer(config)
    kind = "text" if data_format == "text" else "tokens"
    cfg = NTPTrainConfig(name=run_dir.name, data=NTPData(kind=kind, format=data_format))
    run_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(run_dir, cfg, config, vocab, list(labels), model.state_dict(), None, {"step": 0})
    return run_dir


def codes_of(tokenizer: str, codebooks: int | None = None) -> Any:
    """The vocabulary entry of a shipped tokenizer's codes (its first ``codebooks``), with
    the hash of the weights it has, so decoding them is allowed."""
    import tokenizers_zoo as tz
    from tokenizers_zoo.datasets.build import checkpoint_hash
    from tokenizers_zoo.ntp.vocabulary import MediaCodes

    info = tz.load(tokenizer).info
    sizes = info.vocab_size[:codebooks] if codebooks else info.vocab_size
    return MediaCodes(tokenizer, info.modality, sizes, checkpoint_hash(tokenizer, None))
