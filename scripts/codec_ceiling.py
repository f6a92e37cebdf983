"""How much of the native codec's loss comes from its codebooks, and how much from the
autoencoder itself.

Scores held-out speech three ways with wide-band PESQ and STOI: through the codec at each
bitrate, and with the residual VQ bypassed (the encoder's continuous latents go straight
into the decoder). When the bypass scores no better than the highest bitrate, more
codebooks or a better quantizer cannot raise quality: the encoder and decoder are the
limit, and only a larger or longer-trained autoencoder can.

    python scripts/codec_ceiling.py --data data/audio/eval [--weights DIR] [--limit N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import tokenizers_zoo as tz
from tokenizers_zoo.metrics import pesq_score, stoi_score
from tokenizers_zoo.tokenizers.audio.codec import NeuralAudioCodec
from tokenizers_zoo.training.audio_data import eval_clips
from tokenizers_zoo.training.evaluate import evaluate_audio


def bypass_quantizer(codec: NeuralAudioCodec, clip: torch.Tensor) -> torch.Tensor:
    """The decoder's output from the encoder's unquantized latents (each conv pads itself,
    so only the last frame's overhang is trimmed)."""
    z = codec.encoder(clip[None, None].to(codec.dtype))
    return codec.decoder(z)[0, 0, : clip.shape[-1]].float().clamp(-1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("data/audio/eval"))
    parser.add_argument("--weights", default=None, help="checkpoint directory (default: the shipped one)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N clips")
    args = parser.parse_args()
    torch.set_num_threads(1)
    codec = tz.load("audio-rvq-16khz", weights=args.weights)
    rate = codec.info.sample_rate
    clips = eval_clips(args.data, rate)[: args.limit]
    rows = {f"{kbps:g} kbps": evaluate_audio(codec, clips, bandwidth=kbps) for kbps in codec.bandwidths}
    bypass = []
    with torch.inference_mode():
        for clip in clips:
            ref, deg = clip.numpy(), bypass_quantizer(codec, clip).numpy()
            bypass.append((pesq_score(ref, deg, rate), stoi_score(ref, deg, rate)))
    pesq, stoi = np.mean(bypass, axis=0)
    rows["no quantizer"] = {"pesq": pesq, "stoi": stoi}
    print(f"{len(clips)} clips from {args.data}")
    print("| path | PESQ (wide band) | STOI |\n|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['pesq']:.3f} | {row['stoi']:.3f} |")


if __name__ == "__main__":
    main()
