"""tokenizers-zoo: media <-> tokens for next-token-prediction models.

import tokenizers_zoo as tz
tok = tz.load(tz.default_tokenizer("image", "continuous"))
tokens = tok.encode(image)          # Tokens, batch axis first
image_back = tok.decode(tokens)     # (B, 3, H, W) in [-1, 1]

Importing the package is cheap and imports no torch: the names below that need
torch are imported on first use (PEP 562). That keeps torch-free parts, such as the
service's client SDK (``tokenizers_zoo.service.client``), light to import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tokenizers_zoo.errors import (
    CheckpointError,
    DeviceUnavailableError,
    EncodeOnlyError,
    InvalidMediaError,
    InvalidTokensError,
    MediaTooLargeError,
    MissingExtraError,
    TokenizersZooError,
    UnknownTokenizerError,
    WeightsNotFoundError,
)
from tokenizers_zoo.info import TokenizerInfo

if TYPE_CHECKING:
    from tokenizers_zoo import media, quantizers
    from tokenizers_zoo.tokenizers import (
        AudioTokenizer,
        ImageTokenizer,
        RegistryEntry,
        Tokenizer,
        VideoTokenizer,
        default_tokenizer,
        default_tokenizers,
        get_entry,
        is_checkpoint,
        list_tokenizers,
        load,
        register,
    )
    from tokenizers_zoo.tokens import Tokens

__version__ = "0.1.0"

#: Public names that need torch, and the module each lives in. Every registry function and
#: ``Tokenizer`` come from ``tokenizers_zoo.tokenizers``, which imports the built-in
#: tokenizers first, so ``tz.load``, ``tz.list_tokenizers`` and ``tz.Tokenizer.from_pretrained``
#: see them in a fresh process.
_ZOO = "tokenizers_zoo.tokenizers"
_LAZY = {
    "media": "tokenizers_zoo.media",
    "quantizers": "tokenizers_zoo.quantizers",
    "RegistryEntry": _ZOO,
    "default_tokenizer": _ZOO,
    "default_tokenizers": _ZOO,
    "get_entry": _ZOO,
    "is_checkpoint": _ZOO,
    "list_tokenizers": _ZOO,
    "load": _ZOO,
    "register": _ZOO,
    "Tokenizer": _ZOO,
    "AudioTokenizer": _ZOO,
    "ImageTokenizer": _ZOO,
    "VideoTokenizer": _ZOO,
    "Tokens": "tokenizers_zoo.tokens",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'tokenizers_zoo' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])


__all__ = [
    "AudioTokenizer",
    "CheckpointError",
    "DeviceUnavailableError",
    "EncodeOnlyError",
    "ImageTokenizer",
    "VideoTokenizer",
    "InvalidMediaError",
    "InvalidTokensError",
    "MediaTooLargeError",
    "MissingExtraError",
    "RegistryEntry",
    "Tokenizer",
    "TokenizerInfo",
    "Tokens",
    "TokenizersZooError",
    "UnknownTokenizerError",
    "WeightsNotFoundError",
    "default_tokenizer",
    "default_tokenizers",
    "get_entry",
    "is_checkpoint",
    "list_tokenizers",
    "load",
    "media",
    "quantizers",
    "register",
]
