"""The YAML training config, as typed dataclasses (unknown keys are errors, not ignored)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tokenizers_zoo.errors import TokenizersZooError


class ConfigError(TokenizersZooError, ValueError):
    """A training config that cannot be used as written."""


@dataclass
class DataConfig:
    train: str = "data/images/train"
    eval: str = "data/images/eval"
    crop: int = 128
    batch_size: int = 8
    eval_size: int = 256
    eval_max_tiles: int = 64
    segment_seconds: float = 1.0  # audio: length of the random training segments
    eval_max_clips: int = 16  # audio, video: held-out recordings or clips scored at each evaluation
    frames: int = 9  # video: frames per training window (1 + 4 n for a causal 4x tokenizer)
    eval_frames: int = 17  # video: frames per held-out clip


@dataclass
class OptimConfig:
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.9)
    weight_decay: float = 0.0
    warmup_steps: int = 200
    max_steps: int = 10000
    grad_clip: float = 1.0


@dataclass
class LossConfig:
    l1: float = 1.0
    l2: float = 0.0
    perceptual: float = 0.0
    lpips_weights: str | None = None
    adversarial: float = 0.0
    disc_start: int = 0
    bottleneck: float = 1.0  # quantizer losses, or the KL term of continuous tokenizers
    mel: float = 0.0  # audio: multi-scale mel distance
    stft: float = 0.0  # audio: multi-resolution STFT loss
    feature_matching: float = 0.0  # audio: critic feature matching, once the critic runs
    temporal: float = 0.0  # video: L1 between frame-to-frame differences


@dataclass
class RunConfig:
    dir: str = "runs/tokenizer"
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # 0: torch's default
    autocast: str = "auto"  # bf16 | none | auto (bf16 on CUDA, and on CPUs with native bf16)
    log_every: int = 10
    eval_every: int = 500
    checkpoint_every: int = 200
    ema_decay: float = 0.999


@dataclass
class TrainConfig:
    name: str
    model: dict[str, Any]
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    run: RunConfig = field(default_factory=RunConfig)
    notes: str = ""


def build_section(cls: type, values: Any, where: str) -> Any:
    """The dataclass ``cls`` from a YAML mapping; a key it does not have is an error."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) in {where}: {unknown}; known: {sorted(known)}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A config file's top-level mapping, or ``ConfigError`` saying why not."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of sections")
    return dict(raw or {})


def load_config(path: str | Path) -> TrainConfig:
    raw = read_yaml(path)
    sections = {"data": DataConfig, "optim": OptimConfig, "loss": LossConfig, "run": RunConfig}
    for key, cls in sections.items():
        raw[key] = build_section(cls, raw.get(key, {}), f"{path}:{key}")
    if "model" not in raw or "architecture" not in raw.get("model", {}):
        raise ConfigError(f"{path} needs model.architecture and model.config")
    return build_section(TrainConfig, raw, str(path))
