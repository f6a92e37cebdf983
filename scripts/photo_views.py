"""Many square views of each photo, filed by collection: the training set of a generative model.

A class-conditional NTP model at 128 x 128 wants more sequences than the photo set has
photos (57 to train on), and one centre crop of a wallpaper discards most of it. So, as
LlamaGen pre-extracts the codes of ten crops and their flips, each photo gives views at
several scales: its shorter side resized to ``size * s`` for each ``s`` in ``SCALES``,
then an ``n x n`` grid of ``size x size`` crops spread evenly over it (``n`` the scale's
index + 1: the whole photo once, 4 crops at 1.5x, 9 at 2x), each also mirrored. That is
28 views a photo, none a copy of another.

The split is the photo's (``train/`` or ``eval/`` in ``IMAGES/sources.tsv``, as
``gather_image_data.py`` writes it), so no held-out photo has a view in the training set;
views go to ``OUT/SPLIT/COLLECTION/NAME-K.png``, which ``tzoo tokenize-dataset
--labels from-folders`` reads as class = collection.

    python scripts/photo_views.py --images data/images --out data/photo-views --size 128
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageOps

from tokenizers_zoo.datasets.items import read_mapping
from tokenizers_zoo.media.image import pil_to_rgb

SCALES = (1.0, 1.5, 2.0)


def views(image: Image.Image, size: int) -> list[Image.Image]:
    """The photo's views, at every scale, each followed by its mirror image."""
    out = []
    for index, scale in enumerate(SCALES):
        side = round(size * scale)
        factor = side / min(image.size)
        resized = image.resize(
            (max(side, round(image.width * factor)), max(side, round(image.height * factor))),
            Image.Resampling.BICUBIC,
        )
        steps = index + 1
        for row in range(steps):
            for col in range(steps):
                left = round((resized.width - size) * (col / (steps - 1) if steps > 1 else 0.5))
                top = round((resized.height - size) * (row / (steps - 1) if steps > 1 else 0.5))
                crop = resized.crop((left, top, left + size, top + size))
                out += [crop, ImageOps.mirror(crop)]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=Path, default=Path("data/images"))
    parser.add_argument("--out", type=Path, default=Path("data/photo-views"))
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    listing = args.images / "sources.tsv"
    if not listing.exists():
        print(
            f"error: {listing} not found: run scripts/gather_image_data.py --out {args.images}",
            file=sys.stderr,
        )
        return 1
    counts: dict[str, int] = {}
    for name, collection in sorted(read_mapping(listing, "collection").items()):
        split, stem = Path(name).parts[0], Path(name).stem
        folder = args.out / split / collection
        folder.mkdir(parents=True, exist_ok=True)
        with Image.open(args.images / name) as photo:
            for k, view in enumerate(views(pil_to_rgb(photo), args.size)):
                view.save(folder / f"{stem}-{k:02d}.png")
                counts[split] = counts.get(split, 0) + 1
    print(", ".join(f"{n} {split} views" for split, n in sorted(counts.items())) + f" in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
