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

# isort: off
# Last: the video package registers a frame-wise entry over each image entry registered
# before it, and an adapter's model is its library's, built from its own files, which a
# frame-wise checkpoint cannot hold; so the adapters (one of which is a video tokenizer, and
# imports the video package) come after it.
from tokenizers_zoo.tokenizers.adapters import LatentVAETokenizer, PretrainedAdapter

# isort: on

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
