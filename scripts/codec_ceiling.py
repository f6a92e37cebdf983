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
import torch.nn.functional as F
from tokenizers_zoo.benchmarks.recon_metrics import pesq_score, stoi_score

import tokenizers_zoo as tz
from tokenizers_zoo.training.audio_data import eval_clips


@torch.inference_mode()
def bypass_quantizer(codec: tz.Tokenizer, clip: torch.Tensor) -> torch.Tensor:
    x = clip[None, None]
    z = codec.encoder(F.pad(x, (0, (-x.shape[-1]) % codec.hop)))
    return codec.decoder(z)[0, 0, : x.shape[-1]].float().clamp(-1, 1)


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
    clips = eval_clips(args.data, codec.info.sample_rate)[: args.limit]
    rate = codec.info.sample_rate
    paths = {f"{kbps:g} kbps": kbps for kbps in codec.bandwidths}
    scores: dict[str, list[tuple[float, float]]] = {name: [] for name in [*paths, "no quantizer"]}
    with torch.inference_mode():
        for clip in clips:
            ref = clip.numpy()
            for name, kbps in paths.items():
                deg = codec.decode(codec.encode(clip, sample_rate=rate, bandwidth=kbps))[0, 0].numpy()
                scores[name].append((pesq_score(ref, deg, rate), stoi_score(ref, deg, rate)))
            deg = bypass_quantizer(codec, clip).numpy()
            scores["no quantizer"].append((pesq_score(ref, deg, rate), stoi_score(ref, deg, rate)))
    print(f"{len(clips)} clips from {args.data}")
    print("| path | PESQ (wide band) | STOI |\n|---|---|---|")
    for name, values in scores.items():
        pesq, stoi = np.mean(values, axis=0)
        print(f"| {name} | {pesq:.3f} | {stoi:.3f} |")


if __name__ == "__main__":
    main()
