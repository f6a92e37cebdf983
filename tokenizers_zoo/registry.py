"""Named tokenizers: ``tz.load("name")`` builds one from its registered config and weights.

As in timm and open_clip, an entry pairs an architecture with its settings and
where its weights come from; ``load`` is the one entry point. Nothing here reaches
the network: weights are files shipped in the package or given by the caller.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tokenizers_zoo.errors import UnknownTokenizerError, WeightsNotFoundError
from tokenizers_zoo.info import KINDS, MODALITIES
from tokenizers_zoo.tokenizer import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    Tokenizer,
    check_device,
    read_checkpoint_config,
)

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class RegistryEntry:
    """``weights`` is a checkpoint directory or safetensors file (relative paths are
    inside the installed package); ``None`` means the architecture needs none, or
    that the caller must supply them. ``config=None`` takes the architecture's settings
    from the checkpoint's ``config.json``, so a shipped checkpoint describes itself."""

    name: str
    architecture: type[Tokenizer]
    modality: str
    kind: str
    config: dict[str, Any] | None = field(default_factory=dict)
    description: str = ""
    weights: str | None = None

    def weights_path(self) -> Path | None:
        if self.weights is None:
            return None
        path = Path(self.weights)
        return path if path.is_absolute() else PACKAGE_DIR / path


_ENTRIES: dict[str, RegistryEntry] = {}
_DEFAULTS: dict[tuple[str, str], str] = {}


def _with_builtins() -> dict[str, RegistryEntry]:
    """The entries, built-in tokenizers included: they register when their package is
    imported, which ``import tokenizers_zoo`` no longer does eagerly (it stays torch-free),
    so every lookup makes sure of it first."""
    importlib.import_module("tokenizers_zoo.tokenizers")
    return _ENTRIES


def register(
    name: str,
    architecture: type[Tokenizer],
    config: dict[str, Any] | None = None,
    *,
    modality: str,
    kind: str,
    description: str = "",
    weights: str | None = None,
    default: bool = False,
    overwrite: bool = False,
) -> RegistryEntry:
    """Add a named tokenizer; ``default=True`` makes it ``default_tokenizer(modality, kind)``."""
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not (isinstance(architecture, type) and issubclass(architecture, Tokenizer)):
        raise TypeError(f"architecture must be a Tokenizer subclass, got {architecture!r}")
    if name in _ENTRIES and not overwrite:
        raise ValueError(f"a tokenizer named {name!r} is already registered (pass overwrite=True)")
    if config is None and weights is None:
        raise ValueError("give the architecture's config, or weights whose config.json holds it")
    entry = RegistryEntry(
        name, architecture, modality, kind, None if config is None else dict(config), description, weights
    )
    _ENTRIES[name] = entry
    if default:
        _DEFAULTS[(modality, kind)] = name
    return entry


def list_tokenizers(modality: str | None = None, kind: str | None = None) -> list[str]:
    """Registered names, sorted, optionally filtered by modality and kind."""
    if modality is not None and modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return sorted(
        name
        for name, entry in _with_builtins().items()
        if (modality is None or entry.modality == modality) and (kind is None or entry.kind == kind)
    )


def get_entry(name: str) -> RegistryEntry:
    try:
        return _with_builtins()[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_ENTRIES), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownTokenizerError(
            f"no tokenizer named {name!r}{hint} Known: {', '.join(sorted(_ENTRIES)) or 'none'}"
        ) from None


def default_tokenizer(modality: str, kind: str = "discrete") -> str:
    """The name ``tzoo`` and the service use when none is given for this modality and kind."""
    if modality not in MODALITIES or kind not in KINDS:
        raise ValueError(f"modality must be one of {MODALITIES} and kind one of {KINDS}")
    _with_builtins()
    try:
        return _DEFAULTS[(modality, kind)]
    except KeyError:
        others = list_tokenizers(modality, kind)
        raise UnknownTokenizerError(
            f"no default {kind} {modality} tokenizer is registered yet"
            + (f"; registered ones: {', '.join(others)}" if others else "")
        ) from None


def load(
    name: str,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    weights: str | Path | None = None,
    pretrained: bool = True,
) -> Tokenizer:
    """Build a registered tokenizer, in eval mode on ``device``.

    ``name`` may also be a directory written by ``save_pretrained``. ``weights``
    overrides the entry's: a checkpoint directory or a ``.safetensors`` file, or what a
    tokenizer that finds its own weights takes (``Tokenizer.locate_weights``: EnCodec's
    ``.th`` files).
    ``pretrained=False`` keeps the random initialisation (for training from scratch).
    A tokenizer with parameters and no weights raises ``WeightsNotFoundError``
    naming the file it expected.
    """
    if Path(name).is_dir() and (Path(name) / CONFIG_FILE).is_file() and name not in _with_builtins():
        return Tokenizer.from_pretrained(name, device=device, dtype=dtype)
    device = check_device(device)
    entry = get_entry(name)
    if entry.config is None:
        weights_file = _resolve_weights(entry, weights)
        checkpoint = weights_file.parent
        config = read_checkpoint_config(checkpoint)["config"]
        model = entry.architecture.from_config(config, name=entry.name)
        if pretrained:
            model.load_weights(weights_file)
    else:
        model = entry.architecture.from_config(entry.config, name=entry.name)
        if pretrained and len(model.state_dict()) > 0:
            own = model.locate_weights(Path(weights) if weights is not None else entry.weights_path())
            model.load_weights(own or _resolve_weights(entry, weights))
    return model.to(device=device, dtype=dtype).eval()


def _resolve_weights(entry: RegistryEntry, weights: str | Path | None) -> Path:
    path = Path(weights) if weights is not None else entry.weights_path()
    if path is None:
        raise WeightsNotFoundError(
            f"{entry.name} needs weights and none ship with it: pass weights=DIR "
            f"(a {WEIGHTS_FILE} with its {CONFIG_FILE}) or a .safetensors file"
        )
    if path.is_dir():
        if (path / CONFIG_FILE).is_file():
            arch = read_checkpoint_config(path)["architecture"]
            if arch != entry.architecture.__name__:
                raise WeightsNotFoundError(
                    f"{path} holds a {arch}, but {entry.name} is a {entry.architecture.__name__}"
                )
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise WeightsNotFoundError(f"{entry.name}: weights file {path} not found")
    return path
