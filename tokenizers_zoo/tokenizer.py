"""The ``Tokenizer`` base class: media in, ``Tokens`` out, and back.

Subclasses supply three pieces: ``prepare`` (media -> canonical batch tensor),
``encode_tensor`` and ``decode_tensor``. The base class does what every tokenizer
must do the same way: check options, check tokens before decoding (kind, shape,
id ranges), move data to the model's device, and save/load checkpoints as
``config.json`` + ``model.safetensors`` (no pickle).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from tokenizers_zoo.errors import (
    CheckpointError,
    DeviceUnavailableError,
    InvalidMediaError,
    InvalidTokensError,
)
from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.tokens import PER_ITEM, Tokens
from tokenizers_zoo.wire import EncodedTokens

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CHECKPOINT_FORMAT = "tokenizers-zoo/1"
#: The ``config.json`` key holding the SHA-256 of ``model.safetensors``.
WEIGHTS_HASH = "weights_sha256"

#: Every concrete Tokenizer subclass by architecture name, so a checkpoint names the
#: class it needs without the loader importing arbitrary code from the config.
ARCHITECTURES: dict[str, type[Tokenizer]] = {}


class Tokenizer(nn.Module, ABC):
    """Base class of every tokenizer in the zoo.

    ``Config`` is a dataclass of the constructor's settings; ``config`` is the
    instance, saved in ``config.json``. ``options`` names the keyword arguments
    ``encode`` accepts (for example ``bandwidth``); they are recorded in
    ``Tokens.extras`` and handed to ``decode_tensor``.

    ``describe(config, name)`` says what a tokenizer built from ``config`` is (its
    ``TokenizerInfo``) without building it, so the registry, ``tzoo list`` and the
    service's listings never construct a model or import an optional library to show
    its vocabulary. ``info`` is that description, with the ``description`` sentence of
    the registry entry (or checkpoint) the tokenizer was loaded from.
    """

    Config: ClassVar[type]
    options: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not getattr(cls, "__abstractmethods__", None) and hasattr(cls, "Config"):
            ARCHITECTURES[cls.__name__] = cls

    def __init__(self, config: Any, name: str | None = None) -> None:
        super().__init__()
        self.config = config
        self.name = name or type(self).__name__
        self._description = ""
        #: What the checkpoint this tokenizer was loaded from says of its training (step,
        #: recipe); ``save_pretrained`` keeps it.
        self.training_record: dict[str, Any] = {}
        self._described: TokenizerInfo | None = None
        # Parameter-free tokenizers still follow .to(device, dtype) through this buffer.
        self.register_buffer("_anchor", torch.empty(0), persistent=False)

    # -- what subclasses provide -------------------------------------------------
    @classmethod
    def describe(cls, config: Any, name: str) -> TokenizerInfo | None:
        """The ``TokenizerInfo`` of ``cls(config, name)``, from the config alone. ``None``
        (this default) says the class cannot tell without being built: then it must
        override ``info``, and the registry builds it (without weights) to describe it."""
        return None

    @property
    def description(self) -> str:
        """The sentence its registry entry (or checkpoint) describes it with."""
        return self._description

    @description.setter
    def description(self, value: str) -> None:
        self._description = value
        self._described = None

    @property
    def info(self) -> TokenizerInfo:
        if self._described is None:
            described = type(self).describe(self.config, self.name)
            if described is None:
                raise NotImplementedError(f"{type(self).__name__} must override describe() or info")
            self._described = dataclasses.replace(
                described, description=self.description or described.description
            )
        return self._described

    @abstractmethod
    def prepare(self, media: Any, sample_rate: int | None) -> tuple[Tensor, tuple[int, ...], int | None]:
        """Media -> ``(batch tensor, original item size, sample rate or None)``.

        ``sample_rate`` is the rate of raw audio samples given to ``encode``."""

    @abstractmethod
    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        """Canonical batch -> ids ``(B, *token_shape)`` or latents."""

    @abstractmethod
    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        """Ids or latents ``(B, *token_shape)`` -> media batch cropped to ``original_size``."""

    # -- public API ----------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self._anchor.device

    @property
    def dtype(self) -> torch.dtype:
        return self._anchor.dtype

    @torch.no_grad()
    def encode(self, media: Any, *, sample_rate: int | None = None, **options: Any) -> Tokens:
        """Tokenize one item or a batch; the result always has a batch axis.

        ``sample_rate`` describes raw audio samples (audio tokenizers only)."""
        self._check_options(options)
        options = self.resolve_options(options)
        x, original_size, sample_rate = self.prepare(media, sample_rate)
        data, per_item = self.encode_items(x.to(self.device, self.dtype), **options)
        extras = options if per_item is None else {**options, PER_ITEM: per_item}
        if self.info.kind == "discrete":
            return Tokens(self.name, original_size, ids=data.long(), sample_rate=sample_rate, extras=extras)
        return Tokens(self.name, original_size, latents=data, sample_rate=sample_rate, extras=extras)

    def encode_items(self, x: Tensor, **options: Any) -> tuple[Tensor, list[dict[str, Any]] | None]:
        """``encode_tensor`` plus what encoding measured about each item that decoding needs
        (kept in ``Tokens.extras[PER_ITEM]``, handed back to ``decode_tensor`` as ``per_item``);
        ``None`` for the tokenizers whose ids say everything."""
        return self.encode_tensor(x, **options), None

    @torch.no_grad()
    def decode(self, tokens: Tokens | Tensor, **options: Any) -> Tensor:
        """Media batch from ``Tokens``, or from a bare ids/latents tensor ``(B, *token_shape)``
        (then the media size is the full token grid, e.g. ``h * spatial_factor``)."""
        if isinstance(tokens, Tensor):
            tokens = self.wrap(tokens)
        self.validate(tokens)
        self._check_options(options)
        merged = {**tokens.extras, **options}
        return self.decode_tensor(tokens.data.to(self.device), tokens.original_size, **merged)

    def wrap(self, data: Tensor) -> Tokens:
        """Bare ids or latents from a model -> ``Tokens`` with the size the grid implies."""
        info = self.info
        if info.kind == "discrete" and (data.is_floating_point() or data.is_complex()):
            raise InvalidTokensError(f"{self.name} decodes integer ids, got a {data.dtype} tensor")
        if info.kind == "continuous" and not data.is_floating_point():
            raise InvalidTokensError(f"{self.name} decodes float latents, got a {data.dtype} tensor")
        token_ndim = len(self._example_token_shape())
        if data.ndim != token_ndim + 1:
            raise InvalidTokensError(
                f"{self.name} expects (batch, *{self._layout()}), got shape {tuple(data.shape)}"
            )
        size = self.size_from_token_shape(tuple(data.shape[1:]))
        if info.kind == "discrete":
            return Tokens(self.name, size, ids=data, sample_rate=info.sample_rate)
        return Tokens(self.name, size, latents=data, sample_rate=info.sample_rate)

    def tokens_from(self, encoded: EncodedTokens) -> Tokens:
        """``Tokens`` for this tokenizer from the codec's numpy form (a file, a request body),
        checking what it says of itself; not yet validated (``decode`` does that). Without
        ``original_size`` the media size is the whole token grid."""
        info = self.info
        if encoded.tokenizer not in ("", self.name):
            raise InvalidTokensError(f"the tokens come from {encoded.tokenizer!r}, not from {self.name!r}")
        if encoded.kind != info.kind:
            raise InvalidTokensError(f"{self.name} decodes {info.kind} tokens, got {encoded.kind} ones")
        unknown = sorted(set(encoded.extras) - {*self.options, PER_ITEM})
        if unknown:
            raise InvalidTokensError(f"{self.name} has no option(s) {unknown} for 'extras'")
        if not encoded.original_size:
            return self.wrap(torch.from_numpy(np.array(encoded.data)))
        tokens = Tokens.from_encoded(encoded)
        return dataclasses.replace(
            tokens, tokenizer=self.name, sample_rate=tokens.sample_rate or info.sample_rate
        )

    def size_from_token_shape(self, token_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The largest media size whose tokens have ``token_shape`` (no cropping)."""
        info = self.info
        if info.modality == "audio":
            frames = token_shape[1] if info.kind == "discrete" else token_shape[0]
            return (frames * info.temporal_factor,)
        grid = token_shape[: 3 if info.modality == "video" else 2]
        size = [g * info.spatial_factor for g in grid[-2:]]
        if info.modality == "video":
            size.insert(0, grid[0] * info.temporal_factor)
        return tuple(size)

    def validate(self, tokens: Tokens) -> None:
        """Raise ``InvalidTokensError`` unless ``tokens`` can be decoded by this tokenizer."""
        info = self.info
        if tokens.tokenizer != self.name:
            raise InvalidTokensError(f"tokens come from {tokens.tokenizer!r}, not from {self.name!r}")
        if tokens.kind != info.kind:
            raise InvalidTokensError(f"{self.name} decodes {info.kind} tokens, got {tokens.kind} ones")
        try:
            expected = self.token_shape_for(tokens.original_size, tokens.extras)
        except ValueError as exc:
            raise InvalidTokensError(f"bad original_size {tokens.original_size}: {exc}") from exc
        if tuple(tokens.shape[1:]) != expected:
            raise InvalidTokensError(
                f"{self.name} tokens for media of size {tokens.original_size} must have shape "
                f"(batch, {', '.join(map(str, expected))}), got {tokens.shape}"
            )
        if tokens.ids is not None:
            self._check_id_ranges(tokens.ids)
        elif not torch.isfinite(tokens.latents).all():
            raise InvalidTokensError("latents contain NaN or infinity")

    def resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Fill in defaults of encode options, so ``Tokens.extras`` says exactly how the
        tokens were made (a later change of default cannot misread them)."""
        return dict(options)

    def token_shape_for(self, original_size: tuple[int, ...], extras: dict[str, Any]) -> tuple[int, ...]:
        """Token shape of one item encoded with ``extras``; tokenizers whose options change
        the shape (a codec's bandwidth) override this."""
        return self.info.token_shape(original_size)

    # -- checkpoints -----------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, training: dict[str, Any] | None = None) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory``.

        ``training`` (JSON-able: step, recipe, data) is kept in ``config.json`` so a
        checkpoint says how it was made, and a later run can continue from it; by default,
        what the checkpoint this tokenizer was loaded from said (``self.training_record``).
        The weights' SHA-256 goes in ``config.json`` too, and loading checks it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": CHECKPOINT_FORMAT})
        (directory / WEIGHTS_FILE).chmod(0o644)  # safetensors writes 0600; shipped weights must be readable
        config = {
            "format": CHECKPOINT_FORMAT,
            "architecture": type(self).__name__,
            "name": self.name,
            "description": self.description,
            "config": dataclasses.asdict(self.config),
            WEIGHTS_HASH: file_sha256(directory / WEIGHTS_FILE),
        }
        training = self.training_record if training is None else training
        if training:
            config["training"] = training
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        return directory

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
    ) -> Tokenizer:
        """Rebuild a tokenizer saved with ``save_pretrained`` (any architecture when called
        on ``Tokenizer`` itself, else that class only)."""
        directory = Path(directory)
        meta = read_checkpoint_config(directory)
        arch = ARCHITECTURES.get(meta["architecture"])
        if arch is None:
            raise CheckpointError(
                f"{directory / CONFIG_FILE} names architecture {meta['architecture']!r}, "
                f"which is not one of {sorted(ARCHITECTURES)}"
            )
        if cls is not Tokenizer and not issubclass(arch, cls):
            raise CheckpointError(f"{directory} holds a {arch.__name__}, not a {cls.__name__}")
        model = arch.from_config(
            meta["config"], name=meta.get("name"), description=checkpoint_description(meta)
        )
        model.training_record = meta.get("training") or {}
        model.load_weights(directory / WEIGHTS_FILE)
        return model.to(device=check_device(device), dtype=dtype).eval()

    @classmethod
    def config_from_dict(cls, config: dict[str, Any]) -> Any:
        """``Config`` from its JSON form (``config.json``'s ``config``)."""
        known = {f.name for f in dataclasses.fields(cls.Config)}
        # Checkpoints written before descriptions moved to the registry kept one here.
        settings = {k: v for k, v in config.items() if k in known or k != "description"}
        try:
            return cls.Config(**settings)
        except TypeError as exc:
            raise CheckpointError(f"config does not fit {cls.__name__}: {exc}") from exc

    @classmethod
    def from_config(cls, config: dict[str, Any], name: str | None = None, description: str = "") -> Tokenizer:
        try:
            model = cls(cls.config_from_dict(config), name=name)
        except TypeError as exc:
            raise CheckpointError(f"config does not fit {cls.__name__}: {exc}") from exc
        model.description = description
        return model

    def init_weights(self) -> None:
        """Set the weights a training run from scratch starts from: the constructor's random
        ones here; a tokenizer built from another's trained weights (a video tokenizer
        inflated from an image one) takes them here, so building one stays cheap."""

    @property
    def needs_weights(self) -> bool:
        """Whether ``tz.load`` must find weights for it: a tokenizer with parameters does. An
        adapter of another library's model has none until its weights are read (the library
        builds the model from them), so it says so itself."""
        return len(self.state_dict()) > 0

    def locate_weights(self, weights: Path | None) -> Path | None:
        """The weights file of a tokenizer that finds its own (a wrapper of another package's
        published checkpoints), given the caller's or the registry entry's ``weights``, or
        ``WeightsNotFoundError`` saying where it looked. ``None``, as here, leaves it to the
        registry: a checkpoint directory or safetensors file."""
        return None

    def load_weights(self, path: str | Path) -> None:
        """Load a ``model.safetensors`` file, failing clearly on missing or extra tensors, and
        on bytes that are not the ones its ``config.json`` recorded (a truncated copy, a
        disk error: safetensors alone would load zeroed tensors silently)."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"weights file {path} does not exist")
        verify_weights(path)
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path} is not a readable safetensors file: {exc}") from exc
        self.load_checked(state, path)

    def load_checked(self, state: dict[str, Tensor], path: Path) -> None:
        """Load ``state`` (read from ``path``), failing clearly on missing or extra tensors
        or wrong shapes."""
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
        if missing or unexpected or wrong:
            raise CheckpointError(
                f"{path} does not match {type(self).__name__}: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}, wrong shape {wrong[:5]}"
            )
        self.load_state_dict(state)

    # -- helpers ----------------------------------------------------------------------
    def _check_options(self, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            allowed = ", ".join(self.options) or "none"
            raise InvalidMediaError(f"{self.name} does not take option(s) {unknown}; allowed: {allowed}")

    def _example_token_shape(self) -> tuple[int, ...]:
        example = {"image": (64, 64), "video": (8, 64, 64), "audio": (16000,)}[self.info.modality]
        return self.info.token_shape(example)

    def _layout(self) -> str:
        info = self.info
        if info.modality == "audio":
            return "(num_codebooks, frames)" if info.kind == "discrete" else "(frames, latent_dim)"
        grid = "t, h, w" if info.modality == "video" else "h, w"
        if info.kind == "continuous":
            return f"({grid}, latent_dim)"
        return f"({grid}, num_codebooks)" if info.num_codebooks > 1 else f"({grid})"

    def _check_id_ranges(self, ids: Tensor) -> None:
        info = self.info
        if info.num_codebooks == 1:
            columns = [(0, ids)]
        else:
            axis = 1 if info.modality == "audio" else -1
            columns = list(enumerate(ids.unbind(axis)))
        for book, column in columns:
            if column.numel() == 0:
                continue
            low, high, size = int(column.min()), int(column.max()), info.vocab_size[book]
            if low < 0 or high >= size:
                where = f" in codebook {book}" if info.num_codebooks > 1 else ""
                raise InvalidTokensError(
                    f"id {low if low < 0 else high}{where} is outside the vocabulary 0..{size - 1}"
                )


def read_checkpoint_config(directory: Path) -> dict[str, Any]:
    """Parse and check ``config.json`` of a checkpoint directory."""
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a tokenizer checkpoint: {CONFIG_FILE} is missing")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint config")
    if not isinstance(meta.get("architecture"), str) or not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{path} needs 'architecture' (string) and 'config' (object)")
    return meta


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_weights(path: Path) -> None:
    """Compare a checkpoint's weights file with the SHA-256 its ``config.json`` recorded
    (about 30 ms for the 15-20 MB shipped files). A weights file with no ``config.json``
    beside it, or one written before checksums were recorded, is not checked."""
    config = path.parent / CONFIG_FILE
    if path.name != WEIGHTS_FILE or not config.is_file():
        return
    expected = read_checkpoint_config(path.parent).get(WEIGHTS_HASH)
    if expected and file_sha256(path) != expected:
        raise CheckpointError(
            f"{path} does not match the SHA-256 recorded in {config} (a damaged or replaced file): "
            "copy the checkpoint again, or save it anew with save_pretrained"
        )


def checkpoint_description(meta: dict[str, Any]) -> str:
    """The description a checkpoint's ``config.json`` gives (older ones kept it in ``config``)."""
    return str(meta.get("description") or meta["config"].get("description") or "")


def _backend_available(device_type: str) -> bool:
    backend = getattr(torch, device_type, None)
    return backend is not None and hasattr(backend, "is_available") and bool(backend.is_available())


def check_device(device: str | torch.device) -> torch.device:
    """Parse ``device`` and make sure this machine has it, with a message that says so."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceUnavailableError(f"{device!r} is not a device name (try 'cpu' or 'cuda')") from exc
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                f"device {device!r} was asked for, but no CUDA GPU is available here"
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"device {device!r} was asked for, but only {torch.cuda.device_count()} GPU(s) exist"
            )
    elif parsed.type not in ("cpu", "meta") and not _backend_available(parsed.type):
        raise DeviceUnavailableError(f"device {device!r} is not available on this machine")
    return parsed
