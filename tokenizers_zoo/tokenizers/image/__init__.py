"""Image tokenizers: each module registers its entries beside its class."""

from tokenizers_zoo.tokenizers.image.base import ImageTokenizer
from tokenizers_zoo.tokenizers.image.conv import ConvImageTokenizer
from tokenizers_zoo.tokenizers.image.palette import PaletteTokenizer
from tokenizers_zoo.tokenizers.image.patch import PatchTokenizer

__all__ = ["ConvImageTokenizer", "ImageTokenizer", "PaletteTokenizer", "PatchTokenizer"]
