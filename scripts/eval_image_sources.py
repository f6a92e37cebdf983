"""Image tokenizers per source: held-out quality of each photo collection, and of the
photos reserved for independent evaluation, in one Markdown table.

Issue 21's targets hold per source, not on a pooled mean that a large collection would
dominate. Rows are what ``gather_image_data.py`` wrote:

- each collection's held-out photos (``eval/`` rows of ``IMAGES/sources.tsv``): every
  256 x 256 tile, as ``tzoo eval-tokenizer`` and the training evaluation measure them;
- ``IMAGES/unseen`` (plasma-workspace-wallpapers, never trained or chosen on): each
  whole photo's shorter side resized to 256 and the centre cropped, the protocol of the
  issue's unseen-source table.

Each cell is PSNR (dB) / colour error (mean CIEDE2000 of 16 x 16 block means, Delta E00).

    python scripts/eval_image_sources.py --tokenizer image-fsq-f8-4k,image-kl-f8-c16
    python scripts/eval_image_sources.py --tokenizer image-fsq-f8-64k=runs/image-fsq-f8-64k/export
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import tokenizers_zoo as tz
from tokenizers_zoo.benchmarks.recon_data import fit
from tokenizers_zoo.media.image import pil_to_rgb
from tokenizers_zoo.training.data import image_files, load_rgb
from tokenizers_zoo.training.evaluate import evaluate_reconstruction

UNSEEN = "unseen (plasma)"


def held_out_by_collection(images: Path, size: int) -> dict[str, torch.Tensor]:
    """Every ``size`` tile of each collection's held-out photos, by collection."""
    tiles: dict[str, list[torch.Tensor]] = defaultdict(list)
    for line in (images / "sources.tsv").read_text().splitlines():
        name, collection = line.split("\t")
        if not name.startswith("eval/"):
            continue
        image = load_rgb(images / name)
        for y in range(0, image.shape[1] - size + 1, size):
            for x in range(0, image.shape[2] - size + 1, size):
                tiles[collection].append(image[:, y : y + size, x : x + size])
    return {collection: torch.stack(found) for collection, found in tiles.items() if found}


def centre_crops(folder: Path, size: int) -> torch.Tensor:
    """Each photo's shorter side to ``size``, the centre ``size x size``."""
    crops = []
    for path in image_files(folder):
        with Image.open(path) as image:
            crop = fit(pil_to_rgb(image), size)
        crops.append(torch.from_numpy(np.array(crop)).permute(2, 0, 1))
    return torch.stack(crops)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--images", type=Path, default=Path("data/images"), help="gather_image_data.py's output"
    )
    parser.add_argument(
        "--tokenizer",
        required=True,
        help="NAME[,NAME...]; NAME=DIR loads a checkpoint directory under that label",
    )
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()

    sources = held_out_by_collection(args.images, args.size)
    if (args.images / "unseen").is_dir():
        sources[UNSEEN] = centre_crops(args.images / "unseen", args.size)
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for spec in args.tokenizer.split(","):
        label, _, weights = spec.partition("=")
        tok = tz.load(weights or label)
        figures[label] = {}
        for source, tiles in sources.items():
            print(f"{label}: {source} ({tiles.shape[0]} tiles)", file=sys.stderr)
            figures[label][source] = evaluate_reconstruction(tok, tiles)
    labels = list(figures)
    print("| source | tiles | " + " | ".join(f"`{label}` PSNR / colour" for label in labels) + " |")
    print("|---|---|" + "---|" * len(labels))
    for source, tiles in sources.items():
        cells = [
            f"{figures[label][source]['psnr']:.2f} / {figures[label][source]['colour_error']:.2f}"
            for label in labels
        ]
        print(f"| {source} | {tiles.shape[0]} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
