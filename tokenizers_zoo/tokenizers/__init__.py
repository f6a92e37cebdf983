"""The built-in tokenizers, by modality (``image/``, ``audio/``, ``video/``), and the zoo's API over them.

Importing this package imports every built-in module, and each registers its entries
beside its class; the registry functions are handed out from here (and from
``import tokenizers_zoo as tz``), so they always see the built-in entries.
"""

from tokenizers_zoo.registry import (
    RegistryEntry,
    default_tokenizer,
    default_tokenizers,
    get_entry,
    is_checkpoint,
    list_tokenizers,
    load,
    register,
)
from tokenizers_zoo.tokenizer import ARCHITECTURES, Tokenizer
from tokenizers_zoo.tokenizers.adapters import LatentVAETokenizer, PretrainedAdapter
from tokenizers_zoo.tokenizers.audio import (
    AudioTokenizer,
    Encodec24kTokenizer,
    Encodec48kTokenizer,
    MelTokenizer,
    MuLawTokenizer,
    MultiRateAudioTokenizer,
    NeuralAudioCodec,
)
from tokenizers_zoo.tokenizers.image import (
    ConvImageTokenizer,
    ImageTokenizer,
    PaletteTokenizer,
    PatchTokenizer,
)
from tokenizers_zoo.tokenizers.video import (
    CausalVideoTokenizer,
    FramewiseVideoTokenizer,
    VideoTokenizer,
    register_framewise,
)

__all__ = [
    "ARCHITECTURES",
    "AudioTokenizer",
    "CausalVideoTokenizer",
    "ConvImageTokenizer",
    "FramewiseVideoTokenizer",
    "Encodec24kTokenizer",
    "Encodec48kTokenizer",
    "ImageTokenizer",
    "LatentVAETokenizer",
    "MelTokenizer",
    "MuLawTokenizer",
    "MultiRateAudioTokenizer",
    "NeuralAudioCodec",
    "PaletteTokenizer",
    "PatchTokenizer",
    "PretrainedAdapter",
    "RegistryEntry",
    "Tokenizer",
    "VideoTokenizer",
    "default_tokenizer",
    "default_tokenizers",
    "get_entry",
    "is_checkpoint",
    "list_tokenizers",
    "load",
    "register",
    "register_framewise",
]
