"""Named tokenizers: ``tz.load("name")`` builds one from its registered config and weights.

As in timm and open_clip, an entry pairs an architecture with its settings and where
its weights come from, and each module registers its entries beside the class they
build (``tokenizers/image/conv.py`` registers ``image-fsq-f8-4k``); ``load`` is the one
entry point. Imports go from the tokenizers to this module, never back: the package
facade (``import tokenizers_zoo as tz``) imports the built-in tokenizers before it hands
out these functions. An entry describes itself without being built (``entry.info``, from
the architecture's ``describe``), so listing the zoo costs no model construction.
Nothing here reaches the network: weights are files shipped in the package or given by
the caller.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from tokenizers_zoo.errors import CheckpointError, UnknownTokenizerError, WeightsNotFoundError
from tokenizers_zoo.info import KINDS, MODALITIES, MemoryCost, TokenizerInfo
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
    from the checkpoint's ``config.json``, so a shipped checkpoint describes itself.
    ``description`` is the one sentence ``tzoo list``, ``info`` and the service show;
    ``memory`` what one request costs (``tzoo bench memory`` measures it), which the
    service budgets with."""

    name: str
    architecture: type[Tokenizer]
    config: dict[str, Any] | None = None
    description: str = ""
    weights: str | None = None
    memory: MemoryCost | None = None

    def weights_path(self) -> Path | None:
        if self.weights is None:
            return None
        path = Path(self.weights)
        return path if path.is_absolute() else PACKAGE_DIR / path

    def settings(self) -> dict[str, Any]:
        """The architecture's config: the entry's own, or its shipped checkpoint's."""
        if self.config is not None:
            return self.config
        path = self.weights_path()
        # A weights file's config sits beside it; a missing directory is named as itself.
        return read_checkpoint_config(path.parent if path.is_file() else path)["config"]

    @cached_property
    def info(self) -> TokenizerInfo:
        """What the tokenizer is, computed from its config (no model is built, unless its
        class cannot describe itself unbuilt)."""
        arch = self.architecture
        described = arch.describe(arch.config_from_dict(self.settings()), self.name)
        if described is None:
            described = arch.from_config(self.settings(), name=self.name).info
        return dataclasses.replace(described, description=self.description or described.description)

    @property
    def modality(self) -> str:
        return self.info.modality

    @property
    def kind(self) -> str:
        return self.info.kind


_ENTRIES: dict[str, RegistryEntry] = {}
_DEFAULTS: dict[tuple[str, str], str] = {}


def register(
    name: str,
    architecture: type[Tokenizer],
    config: dict[str, Any] | None = None,
    *,
    description: str = "",
    weights: str | None = None,
    memory: MemoryCost | None = None,
    default: bool = False,
    overwrite: bool = False,
    modality: str | None = None,
    kind: str | None = None,
) -> RegistryEntry:
    """Add a named tokenizer; ``default=True`` makes it ``default_tokenizer(modality, kind)``.

    The architecture says what modality and kind it is (``describe``); ``modality=`` and
    ``kind=``, when given, are checked against that."""
    if not (isinstance(architecture, type) and issubclass(architecture, Tokenizer)):
        raise TypeError(f"architecture must be a Tokenizer subclass, got {architecture!r}")
    if modality is not None and modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if name in _ENTRIES and not overwrite:
        raise ValueError(f"a tokenizer named {name!r} is already registered (pass overwrite=True)")
    if config is None and weights is None:
        raise ValueError("give the architecture's config, or weights whose config.json holds it")
    entry = RegistryEntry(
        name, architecture, None if config is None else dict(config), description, weights, memory
    )
    if modality is not None or kind is not None or default:
        declared = (modality or entry.modality, kind or entry.kind)
        if declared != (entry.modality, entry.kind):
            raise ValueError(
                f"{name} was registered as a {declared[1]} {declared[0]} tokenizer, but "
                f"{architecture.__name__} with this config is a {entry.kind} {entry.modality} one"
            )
    _ENTRIES[name] = entry
    if default:
        _DEFAULTS[(entry.modality, entry.kind)] = name
    return entry


def list_tokenizers(modality: str | None = None, kind: str | None = None) -> list[str]:
    """Registered names, sorted, optionally filtered by modality and kind."""
    if modality is not None and modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return sorted(
        name
        for name, entry in _ENTRIES.items()
        if (modality is None or entry.modality == modality) and (kind is None or entry.kind == kind)
    )


def get_entry(name: str) -> RegistryEntry:
    try:
        return _ENTRIES[name]
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
    try:
        return _DEFAULTS[(modality, kind)]
    except KeyError:
        others = list_tokenizers(modality, kind)
        raise UnknownTokenizerError(
            f"no default {kind} {modality} tokenizer is registered yet"
            + (f"; registered ones: {', '.join(others)}" if others else "")
        ) from None


def default_tokenizers() -> dict[tuple[str, str], str]:
    """Every default: ``(modality, kind) -> name``."""
    return dict(_DEFAULTS)


def is_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` is a directory ``save_pretrained`` wrote (it has a ``config.json``)."""
    return Path(path).is_dir() and (Path(path) / CONFIG_FILE).is_file()


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
    if is_checkpoint(name) and name not in _ENTRIES:
        return Tokenizer.from_pretrained(name, device=device, dtype=dtype)
    device = check_device(device)
    entry = get_entry(name)
    if entry.config is None:
        weights_file = _resolve_weights(entry, weights)
        meta = read_checkpoint_config(weights_file.parent)
        model = entry.architecture.from_config(meta["config"], name=entry.name, description=entry.description)
        model.training_record = meta.get("training") or {}
        _check_same_tokenizer(entry, model.info, weights_file.parent)
        if pretrained:
            model.load_weights(weights_file)
    else:
        model = entry.architecture.from_config(entry.config, name=entry.name, description=entry.description)
        if pretrained and model.needs_weights:
            own = model.locate_weights(Path(weights) if weights is not None else entry.weights_path())
            model.load_weights(own or _resolve_weights(entry, weights))
    return model.to(device=device, dtype=dtype).eval()


def _check_same_tokenizer(entry: RegistryEntry, built: TokenizerInfo, checkpoint: Path) -> None:
    """A checkpoint of the same architecture but another kind of tokenizer (continuous weights
    given to a discrete entry) would give tokens labelled with a name that cannot decode them."""
    expected, got = entry.info, built
    if (got.modality, got.kind, got.vocab_size, got.latent_dim) != (
        expected.modality,
        expected.kind,
        expected.vocab_size,
        expected.latent_dim,
    ):
        shape = f"{len(got.vocab_size)} codebook(s) of {max(got.vocab_size)}" if got.vocab_size else None
        raise CheckpointError(
            f"{checkpoint} holds a {got.kind} {got.modality} tokenizer "
            f"({shape or f'{got.latent_dim} latent channels'}), not one like {entry.name}; "
            f"load it by its directory (tz.load({str(checkpoint)!r})) or give the matching name"
        )


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
