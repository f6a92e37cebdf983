"""``tzoo demo``: one round trip through every default tokenizer, with its numbers.

What a new user runs first: it shows the token shapes a model would see and how
close the reconstruction is, with nothing to download.
"""

from __future__ import annotations

import math

import torch

import tokenizers_zoo as tz
from tokenizers_zoo import metrics
from tokenizers_zoo.media.image import to_image_batch


def gradient_pattern(height: int = 200, width: int = 300) -> torch.Tensor:
    """A colour gradient with a disc: smooth areas and an edge, reproducible."""
    y = torch.linspace(-1, 1, height)[:, None].expand(height, width)
    x = torch.linspace(-1, 1, width)[None, :].expand(height, width)
    disc = ((x * 1.5) ** 2 + y**2 < 0.4).float()
    image = torch.stack([x, y, disc * 2 - 1]).clamp(-1, 1)
    return image[None]


def sine_tone(sample_rate: int = 16000, seconds: float = 1.0) -> torch.Tensor:
    """A 440 Hz tone with a slow amplitude envelope."""
    t = torch.arange(int(sample_rate * seconds)) / sample_rate
    return 0.5 * torch.sin(2 * math.pi * 440 * t) * torch.sin(math.pi * t / seconds)


def run_demo(image_path: str | None = None) -> int:
    image = to_image_batch(image_path) if image_path else gradient_pattern()
    tone = sine_tone()
    for modality in ("image", "audio"):
        for kind in ("discrete", "continuous"):
            try:
                name = tz.default_tokenizer(modality, kind)
            except tz.UnknownTokenizerError:
                print(f"{modality:>5} {kind:<10}: no default shipped yet")
                continue
            tok = tz.load(name)
            media = image if modality == "image" else tone
            tokens = tok.encode(media, sample_rate=16000) if modality == "audio" else tok.encode(media)
            back = tok.decode(tokens)
            reference = media if modality == "image" else media.reshape(back.shape)
            psnr = float(metrics.psnr(back, reference, data_range=2.0).mean())
            per_item = math.prod(tokens.shape[1:-1] if kind == "continuous" else tokens.shape[1:])
            print(
                f"{modality:>5} {kind:<10}: {name:<18} media {tuple(media.shape)} -> tokens "
                f"{tokens.shape} ({per_item} tokens) -> {tuple(back.shape)}, PSNR {psnr:.1f} dB"
            )
    return 0
