"""Turning what users hold (PIL images, uint8 arrays, tensors, sample arrays, video files)
into the canonical tensors tokenizers work on, and back."""

from tokenizers_zoo.media.audio import read_audio, to_audio_batch, write_wav
from tokenizers_zoo.media.image import read_image, to_image_batch, to_pil, to_uint8, write_image
from tokenizers_zoo.media.video import iter_video, read_video, save_video, to_video_array, write_video

__all__ = [
    "iter_video",
    "read_audio",
    "read_image",
    "read_video",
    "save_video",
    "to_audio_batch",
    "to_image_batch",
    "to_pil",
    "to_uint8",
    "to_video_array",
    "write_image",
    "write_video",
    "write_wav",
]
