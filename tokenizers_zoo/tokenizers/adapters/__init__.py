"""Other libraries' pretrained tokenizers behind the zoo's API (the ``hf`` extra): one
module per family, each registering its entries beside its class. Importing them imports
neither transformers nor diffusers; loading an entry does."""

from tokenizers_zoo.tokenizers.adapters.audio_codec import AudioCodecAdapter
from tokenizers_zoo.tokenizers.adapters.chameleon_vq import ChameleonVQTokenizer
from tokenizers_zoo.tokenizers.adapters.checkpoint_part import CheckpointPartAdapter
from tokenizers_zoo.tokenizers.adapters.cosmos_vae import CosmosVAETokenizer
from tokenizers_zoo.tokenizers.adapters.dac import DacTokenizer
from tokenizers_zoo.tokenizers.adapters.diffusers_vae import LatentVAETokenizer
from tokenizers_zoo.tokenizers.adapters.emu3_vq import Emu3VQTokenizer
from tokenizers_zoo.tokenizers.adapters.encodec_hf import EncodecHFTokenizer
from tokenizers_zoo.tokenizers.adapters.janus_vq import JanusVQTokenizer
from tokenizers_zoo.tokenizers.adapters.mimi import MimiTokenizer
from tokenizers_zoo.tokenizers.adapters.pretrained import PretrainedAdapter
from tokenizers_zoo.tokenizers.adapters.vision_towers import (
    ClipVisionTokenizer,
    SiglipVisionTokenizer,
    VisionTowerTokenizer,
)
from tokenizers_zoo.tokenizers.adapters.whisper_encoder import WhisperEncoderTokenizer
from tokenizers_zoo.tokenizers.adapters.xcodec import XcodecTokenizer

__all__ = [
    "AudioCodecAdapter",
    "ChameleonVQTokenizer",
    "CheckpointPartAdapter",
    "CosmosVAETokenizer",
    "ClipVisionTokenizer",
    "DacTokenizer",
    "Emu3VQTokenizer",
    "EncodecHFTokenizer",
    "JanusVQTokenizer",
    "LatentVAETokenizer",
    "MimiTokenizer",
    "PretrainedAdapter",
    "SiglipVisionTokenizer",
    "VisionTowerTokenizer",
    "WhisperEncoderTokenizer",
    "XcodecTokenizer",
]
