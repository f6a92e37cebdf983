"""The built-in tokenizers and their registry entries."""

from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.audio import AudioTokenizer
from tokenizers_zoo.tokenizers.codec import NeuralAudioCodec
from tokenizers_zoo.tokenizers.conv import ConvImageTokenizer
from tokenizers_zoo.tokenizers.encodec_codec import Encodec24kTokenizer, Encodec48kTokenizer
from tokenizers_zoo.tokenizers.image import ImageTokenizer
from tokenizers_zoo.tokenizers.mel import MelTokenizer
from tokenizers_zoo.tokenizers.mulaw import MuLawTokenizer
from tokenizers_zoo.tokenizers.palette import PaletteTokenizer
from tokenizers_zoo.tokenizers.patch import PatchTokenizer

for _size in (8, 16):
    register(
        f"image-patch-p{_size}",
        PatchTokenizer,
        {"patch_size": _size},
        modality="image",
        kind="continuous",
        description=f"raw {_size}x{_size} RGB patches (Fuyu); exact inverse, no weights",
    )

register(
    "image-palette-512",
    PaletteTokenizer,
    {"num_colors": 512},
    modality="image",
    kind="discrete",
    description="one token per pixel: nearest of 512 k-means colours fitted on photos (ImageGPT)",
    weights="weights/image-palette-512",
)

# Trained with the recipe: configs/<name>.yaml (how, and what they reach: README).
register(
    "image-fsq-f8-4k",
    ConvImageTokenizer,
    modality="image",
    kind="discrete",
    description="f8 FSQ [7,5,5,5,5] (4375 codes), conv encoder/decoder trained on photos",
    weights="weights/image-fsq-f8-4k",
    default=True,
)
register(
    "image-kl-f8-c16",
    ConvImageTokenizer,
    modality="image",
    kind="continuous",
    description="f8 diagonal-Gaussian latents, 16 channels, conv encoder/decoder trained on photos",
    weights="weights/image-kl-f8-c16",
    default=True,
)

register(
    "audio-rvq-16khz",
    NeuralAudioCodec,
    modality="audio",
    kind="discrete",
    description="causal SEANet codec + residual VQ (12 x 1024), 16 kHz speech, 1.5/3/6 kbps, streams",
    weights="weights/audio-rvq-16khz",
    default=True,
)

register(
    "audio-mulaw-8bit",
    MuLawTokenizer,
    {"bits": 8},
    modality="audio",
    kind="discrete",
    description="8-bit mu-law, one id per sample at the input rate (WaveNet); no weights",
)

# Meta's weights are not shipped: they are found on this machine or fetched on request
# (tokenizers/encodec_weights.py). 6 kbps by default, the rate VALL-E and Bark model.
register(
    "audio-encodec-24khz",
    Encodec24kTokenizer,
    {"bandwidth": 6.0},
    modality="audio",
    kind="discrete",
    description="EnCodec 24 kHz mono (Meta), 8 x 1024 codes at 75 frames/s (6 kbps; 1.5-24 by bandwidth=)",
)
register(
    "audio-encodec-48khz",
    Encodec48kTokenizer,
    {"bandwidth": 6.0},
    modality="audio",
    kind="discrete",
    description="EnCodec 48 kHz stereo (Meta), 4 x 1024 codes at 150 frames/s (6 kbps; 3-24 by bandwidth=)",
)

for _mels in (80, 128):
    register(
        f"audio-mel-{_mels}",
        MelTokenizer,
        {"n_mels": _mels},
        modality="audio",
        kind="continuous",
        description=f"{_mels}-band log-mel, 16 kHz, 100 frames/s; Griffin-Lim decode (metallic); no weights",
        default=_mels == 80,
    )

__all__ = [
    "AudioTokenizer",
    "ConvImageTokenizer",
    "Encodec24kTokenizer",
    "Encodec48kTokenizer",
    "ImageTokenizer",
    "MelTokenizer",
    "MuLawTokenizer",
    "NeuralAudioCodec",
    "PaletteTokenizer",
    "PatchTokenizer",
]
