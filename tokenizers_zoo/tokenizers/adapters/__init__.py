"""Other libraries' pretrained tokenizers behind the zoo's API (the ``hf`` extra): one
module per family, each registering its entries beside its class. Importing them imports
neither transformers nor diffusers; loading an entry does."""

from tokenizers_zoo.tokenizers.adapters.audio_codec import AudioCodecAdapter
from tokenizers_zoo.tokenizers.adapters.dac import DacTokenizer
from tokenizers_zoo.tokenizers.adapters.diffusers_vae import LatentVAETokenizer
from tokenizers_zoo.tokenizers.adapters.encodec_hf import EncodecHFTokenizer
from tokenizers_zoo.tokenizers.adapters.mimi import MimiTokenizer
from tokenizers_zoo.tokenizers.adapters.pretrained import PretrainedAdapter

__all__ = [
    "AudioCodecAdapter",
    "DacTokenizer",
    "EncodecHFTokenizer",
    "LatentVAETokenizer",
    "MimiTokenizer",
    "PretrainedAdapter",
]
