"""Gather real photos for training and evaluating image tokenizers, with no hub downloads.

Sources: the Debian packages mate-backgrounds and gnome-backgrounds (fetched with
``apt-get download`` and unpacked with ``dpkg -x``; nothing is installed) and the
photos scikit-image's wheel ships in ``skimage/data`` (fetched with ``pip download``).
Images are converted to RGB and downscaled so the longer side is at most
``--max-side`` pixels, then written as PNG under ``OUT/train`` and ``OUT/eval``, and each
file's collection (the package or wheel it came from) is listed in ``OUT/sources.tsv``
(``train/NAME.png<TAB>COLLECTION``), the classes of a class-conditional model.

Held out for evaluation (never trained on): see ``EVAL_IMAGES``.

    python scripts/gather_image_data.py --out data/images
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from PIL import Image

from tokenizers_zoo.media.image import pil_to_rgb

DEBIAN_PACKAGES = ("mate-backgrounds", "gnome-backgrounds")
EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp"}
# Photos held out for evaluation: natural scenes of different kinds from each source.
EVAL_IMAGES = {"Garden", "RainDrops", "Storm", "coffee", "rocket", "truchet-l"}
# Larger copies of the same picture, grey-level test charts and tiny images add nothing.
SKIP = {
    "Elephants_3840x2160",
    "Elephants_5640x3172",
    "chessboard_GRAY",
    "chessboard_RGB",
    "microaneurysms",
    "lbpcascade_frontalface_opencv",
    "vnc-d",
    "vnc-l",
    "text",
    "page",
}
MIN_SIDE = 256


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def fetch_sources(work: Path) -> list[tuple[Path, str]]:
    """Download and unpack the packages; return every candidate image file with its collection."""
    _run(["apt-get", "download", *DEBIAN_PACKAGES], work)
    for deb in work.glob("*.deb"):
        _run(["dpkg", "-x", str(deb), deb.name.split("_")[0]], work)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "scikit-image",
            "-d",
            "wheels",
        ],
        work,
    )
    for wheel in (work / "wheels").glob("scikit_image-*.whl"):
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if name.startswith("skimage/data/"):
                    zf.extract(name, work / "skimage")
    files = [p for p in work.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file()]
    collections = {name: name for name in DEBIAN_PACKAGES} | {"skimage": "scikit-image"}
    found = [(p, collections[p.relative_to(work).parts[0]]) for p in files]
    return sorted(found, key=lambda found: found[0].name)


def convert(src: Path, dst: Path, max_side: int) -> bool:
    with Image.open(src) as image:
        if min(image.size) < MIN_SIDE:
            return False
        image = pil_to_rgb(image)
        scale = max_side / max(image.size)
        if scale < 1:
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
        image.save(dst)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="data/images", type=Path)
    parser.add_argument("--max-side", type=int, default=1024)
    args = parser.parse_args()
    for split in ("train", "eval"):
        (args.out / split).mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    counts = {"train": 0, "eval": 0}
    sources = []
    with tempfile.TemporaryDirectory() as tmp:
        for src, collection in fetch_sources(Path(tmp)):
            stem = src.stem
            if stem in SKIP or stem in seen:
                continue
            seen.add(stem)
            split = "eval" if stem in EVAL_IMAGES else "train"
            if convert(src, args.out / split / f"{stem}.png", args.max_side):
                counts[split] += 1
                sources.append(f"{split}/{stem}.png\t{collection}\n")
    (args.out / "sources.tsv").write_text("".join(sources))
    missing = EVAL_IMAGES - {p.stem for p in (args.out / "eval").glob("*.png")}
    print(f"wrote {counts['train']} training and {counts['eval']} held-out images to {args.out}")
    if missing:
        print(f"warning: held-out images not found: {sorted(missing)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
