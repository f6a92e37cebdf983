"""Fit the 512-colour palette of ``image-palette-512`` (ImageGPT-style k-means on RGB).

    python scripts/gather_image_data.py --out data/images
    python scripts/fit_palette.py --data data/images/train --out tokenizers_zoo/weights/image-palette-512

Samples pixels uniformly from every training photo (equal count per photo, so large
wallpapers do not dominate), runs k-means in [-1, 1] RGB and saves the tokenizer with
``save_pretrained``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from tokenizers_zoo.quantizers.kmeans import kmeans
from tokenizers_zoo.tokenizers.image.palette import PaletteConfig, PaletteTokenizer
from tokenizers_zoo.training.data import image_files, load_rgb


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="data/images/train")
    parser.add_argument("--out", default="tokenizers_zoo/weights/image-palette-512", type=Path)
    parser.add_argument("--colors", type=int, default=512)
    parser.add_argument("--pixels-per-image", type=int, default=8192)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    gen = torch.Generator().manual_seed(args.seed)
    samples = []
    for path in image_files(args.data):
        pixels = load_rgb(path).flatten(1).t()
        pick = torch.randint(0, pixels.shape[0], (args.pixels_per_image,), generator=gen)
        samples.append(pixels[pick].float() / 127.5 - 1.0)
    torch.manual_seed(args.seed)
    palette, counts = kmeans(torch.cat(samples), args.colors, iters=args.iters, generator=gen)
    order = torch.argsort(counts, descending=True)  # most used colours get the smallest ids
    tokenizer = PaletteTokenizer(PaletteConfig(num_colors=args.colors))
    tokenizer.palette.copy_(palette[order])
    tokenizer.save_pretrained(args.out)
    print(f"fitted {args.colors} colours on {sum(s.shape[0] for s in samples)} pixels -> {args.out}")


if __name__ == "__main__":
    main()
