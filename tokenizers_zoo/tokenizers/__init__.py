"""The built-in tokenizers and their registry entries."""

from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.audio import AudioTokenizer
from tokenizers_zoo.tokenizers.image import ImageTokenizer
from tokenizers_zoo.tokenizers.mulaw import MuLawTokenizer
from tokenizers_zoo.tokenizers.patch import PatchTokenizer

for _size in (8, 16):
    register(
        f"image-patch-{_size}",
        PatchTokenizer,
        {"patch_size": _size},
        modality="image",
        kind="continuous",
        description=f"raw {_size}x{_size} RGB patches (Fuyu); exact inverse, no weights",
        default=_size == 16,
    )

register(
    "audio-mulaw-8bit",
    MuLawTokenizer,
    {"bits": 8},
    modality="audio",
    kind="discrete",
    description="8-bit mu-law, one id per sample at the input rate (WaveNet); no weights",
    default=True,
)

__all__ = ["AudioTokenizer", "ImageTokenizer", "MuLawTokenizer", "PatchTokenizer"]
