"""Video tokenizers: each module registers its entries beside its class."""

from tokenizers_zoo.tokenizers.video.base import VideoTokenizer
from tokenizers_zoo.tokenizers.video.causal import CausalVideoConfig, CausalVideoTokenizer
from tokenizers_zoo.tokenizers.video.framewise import FramewiseVideoTokenizer, register_framewise

__all__ = [
    "CausalVideoConfig",
    "CausalVideoTokenizer",
    "FramewiseVideoTokenizer",
    "VideoTokenizer",
    "register_framewise",
]
