"""``tzoo demo``: one round trip through every default tokenizer, with its numbers.

What a new user runs first: it shows the token shapes a model would see and how close
the reconstruction is, on a real photo and a real recording that ship with the package
(``tokenizers_zoo/samples``, both held out of training), with nothing to download.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torchaudio.functional as AF

import tokenizers_zoo as tz
from tokenizers_zoo import metrics
from tokenizers_zoo.media.audio import read_audio
from tokenizers_zoo.media.image import to_image_batch, to_uint8

SAMPLES = Path(__file__).resolve().parent / "samples"
PHOTO = SAMPLES / "coffee_256.png"
SPEECH = SAMPLES / "speech_is-in-use_16khz.g722"

MEANING = {
    "image": "PSNR in dB of the 8-bit reconstruction (higher is closer; ~25 is visibly soft, "
    "~30 good, lossless prints inf). One photo varies by a few dB: the README's quality "
    "table gives each tokenizer's mean over the held-out tiles.",
    "audio": "STOI, the intelligibility of the reconstruction (0 to 1; above 0.9 is "
    "close to the original). The README's tables give PESQ and STOI over the held-out recordings.",
}


def run_demo(image_path: str | None = None) -> int:
    image = to_image_batch(image_path or PHOTO)
    samples, rate = read_audio(SPEECH, "g722")
    speech = torch.from_numpy(samples).mean(0)
    print(f"image: {image_path or PHOTO.name} {tuple(image.shape[-2:])}; audio: {SPEECH.name} ({rate} Hz)")
    for modality in ("image", "audio"):
        for kind in ("discrete", "continuous"):
            try:
                name = tz.default_tokenizer(modality, kind)
            except tz.UnknownTokenizerError:
                print(f"{modality:>5} {kind:<10}: no default shipped yet")
                continue
            tok = tz.load(name)
            if modality == "image":
                tokens = tok.encode(image)
                back = tok.decode(tokens)
                score = f"PSNR {float(metrics.psnr(to_uint8(back), to_uint8(image)).mean()):.1f} dB"
                media = tuple(image.shape)
            else:
                tokens = tok.encode(speech, sample_rate=rate)
                back = tok.decode(tokens)[0].mean(0)
                if tokens.sample_rate != rate:
                    back = AF.resample(back, tokens.sample_rate, rate)
                stoi = metrics.stoi_score(speech.numpy(), back[: len(speech)].numpy(), rate)
                score = f"STOI {stoi:.3f}"
                media = tuple(speech.shape)
            per_item = math.prod(tokens.shape[1:-1] if kind == "continuous" else tokens.shape[1:])
            print(
                f"{modality:>5} {kind:<10}: {name:<18} media {media} -> tokens "
                f"{tokens.shape} ({per_item} tokens) -> {score}"
            )
    for modality, meaning in MEANING.items():
        print(f"({modality}: {meaning})")
    return 0
