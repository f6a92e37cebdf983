"""Turning what users hold (PIL images, uint8 arrays, tensors, sample arrays) into the
canonical tensors tokenizers work on, and back."""

from tokenizers_zoo.media.audio import to_audio_batch
from tokenizers_zoo.media.image import to_image_batch, to_pil, to_uint8

__all__ = ["to_audio_batch", "to_image_batch", "to_pil", "to_uint8"]
