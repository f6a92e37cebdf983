"""A tiny text corpus and trainer config the NTP tests share."""

from __future__ import annotations

from pathlib import Path

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
