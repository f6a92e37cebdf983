"""``scripts/eval_image_sources.py``: one row per source of ``gather_image_data.py``'s layout,
figures from the same evaluation as ``tzoo eval-tokenizer``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "eval_image_sources.py"


def _photo(path: Path, height: int, width: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)


def test_rows_per_collection_and_for_the_unseen_photos(tmp_path: Path) -> None:
    images = tmp_path / "images"
    for folder in ("train", "eval", "unseen"):
        (images / folder).mkdir(parents=True)
    _photo(images / "eval" / "a.png", 64, 96, 0)  # six 32 x 32 tiles
    _photo(images / "eval" / "b.png", 40, 40, 1)  # one tile
    _photo(images / "train" / "c.png", 64, 64, 2)  # trained on: no row
    _photo(images / "unseen" / "d.png", 50, 80, 3)  # one centre crop
    (images / "sources.tsv").write_text("eval/a.png\tmate\neval/b.png\tgnome\ntrain/c.png\tmate\n")
    figures = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--images", str(images), "--size", "32",
         "--tokenizer", "image-patch-p16,image-palette-512", "--json", str(figures)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[1:] == [
        f"| mate | 6 | 99.00 / 0.00 | {_cell(figures, 'mate')} |",
        f"| gnome | 1 | 99.00 / 0.00 | {_cell(figures, 'gnome')} |",
        f"| unseen (plasma) | 1 | 99.00 / 0.00 | {_cell(figures, 'unseen (plasma)')} |",
    ]
    palette = json.loads(figures.read_text())["image-palette-512"]
    assert all(row["psnr"] < 99 and row["colour_error"] > 0 for row in palette.values())


def _cell(figures: Path, source: str) -> str:
    row = json.loads(figures.read_text())["image-palette-512"][source]
    return f"{row['psnr']:.2f} / {row['colour_error']:.2f}"
