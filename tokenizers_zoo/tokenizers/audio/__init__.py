"""Audio tokenizers: each module registers its entries beside its class."""

from tokenizers_zoo.tokenizers.audio.base import AudioTokenizer
from tokenizers_zoo.tokenizers.audio.codec import NeuralAudioCodec
from tokenizers_zoo.tokenizers.audio.encodec_codec import Encodec24kTokenizer, Encodec48kTokenizer
from tokenizers_zoo.tokenizers.audio.mel import MelTokenizer
from tokenizers_zoo.tokenizers.audio.mulaw import MuLawTokenizer
from tokenizers_zoo.tokenizers.audio.multirate import MultiRateAudioTokenizer

__all__ = [
    "AudioTokenizer",
    "Encodec24kTokenizer",
    "Encodec48kTokenizer",
    "MelTokenizer",
    "MuLawTokenizer",
    "MultiRateAudioTokenizer",
    "NeuralAudioCodec",
]
