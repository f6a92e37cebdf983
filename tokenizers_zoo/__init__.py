"""tokenizers-zoo: media <-> tokens for next-token-prediction models.

import tokenizers_zoo as tz
tok = tz.load(tz.default_tokenizer("image", "continuous"))
tokens = tok.encode(image)          # Tokens, batch axis first
image_back = tok.decode(tokens)     # (B, 3, H, W) in [-1, 1]
"""

from tokenizers_zoo import media, quantizers
from tokenizers_zoo.errors import (
    CheckpointError,
    DeviceUnavailableError,
    InvalidMediaError,
    InvalidTokensError,
    TokenizersZooError,
    UnknownTokenizerError,
    WeightsNotFoundError,
)
from tokenizers_zoo.info import TokenizerInfo
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

__all__ = [
    "AudioTokenizer",
    "CheckpointError",
    "DeviceUnavailableError",
    "ImageTokenizer",
    "InvalidMediaError",
    "InvalidTokensError",
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
