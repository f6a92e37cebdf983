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
    InvalidMediaError,
    InvalidTokensError,
    MediaTooLargeError,
    TokenizersZooError,
    UnknownTokenizerError,
    WeightsNotFoundError,
)
from tokenizers_zoo.info import TokenizerInfo

if TYPE_CHECKING:
    from tokenizers_zoo import media, quantizers
    from tokenizers_zoo.registry import (
        RegistryEntry,
        default_tokenizer,
        get_entry,
        list_tokenizers,
        load,
        register,
    )
    from tokenizers_zoo.tokenizer import Tokenizer
    from tokenizers_zoo.tokenizers import AudioTokenizer, ImageTokenizer
    from tokenizers_zoo.tokens import Tokens

__version__ = "0.1.0"

#: Public names that need torch, and the module each lives in.
_LAZY = {
    "media": "tokenizers_zoo.media",
    "quantizers": "tokenizers_zoo.quantizers",
    "RegistryEntry": "tokenizers_zoo.registry",
    "default_tokenizer": "tokenizers_zoo.registry",
    "get_entry": "tokenizers_zoo.registry",
    "list_tokenizers": "tokenizers_zoo.registry",
    "load": "tokenizers_zoo.registry",
    "register": "tokenizers_zoo.registry",
    "Tokenizer": "tokenizers_zoo.tokenizer",
    "AudioTokenizer": "tokenizers_zoo.tokenizers",
    "ImageTokenizer": "tokenizers_zoo.tokenizers",
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
    "ImageTokenizer",
    "InvalidMediaError",
    "InvalidTokensError",
    "MediaTooLargeError",
    "RegistryEntry",
    "Tokenizer",
    "TokenizerInfo",
    "Tokens",
    "TokenizersZooError",
    "UnknownTokenizerError",
    "WeightsNotFoundError",
    "default_tokenizer",
    "get_entry",
    "list_tokenizers",
    "load",
    "media",
    "quantizers",
    "register",
]
