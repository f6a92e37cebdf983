"""Random crops from a folder of photos, reproducible from (seed, step) alone.

Every image is decoded once and kept in memory as uint8 at full size and at 1/2 and
1/4 scale (when still larger than a crop), so crops cover fine texture and whole
objects. A batch is a pure function of the seed and the step number, which makes
resuming exact without saving any loader state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from tokenizers_zoo.formats import suffixes
from tokenizers_zoo.media.image import pil_to_rgb


def media_files(folder: str | Path, suffixes: set[str], what: str) -> list[Path]:
    """Every file under ``folder`` (recursively) with one of ``suffixes``, in a stable order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} folder {folder} does not exist")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
    if not files:
        raise FileNotFoundError(f"no {what} files ({', '.join(sorted(suffixes))}) under {folder}")
    return files


def image_files(folder: str | Path) -> list[Path]:
    return media_files(folder, suffixes("image"), "image")


def load_rgb(path: Path) -> Tensor:
    """uint8 ``(3, H, W)``; transparency composited onto white as everywhere else."""
    with Image.open(path) as image:
        return torch.from_numpy(np.array(pil_to_rgb(image))).permute(2, 0, 1).contiguous()


class RandomCrops:
    def __init__(self, folder: str | Path, crop: int, seed: int = 0) -> None:
        self.crop = crop
        self.seed = seed
        self.images: list[Tensor] = []
        for path in image_files(folder):
            image = load_rgb(path)
            for factor in (1, 2, 4):
                h, w = image.shape[1] // factor, image.shape[2] // factor
                if min(h, w) < crop:
                    break
                scaled = image if factor == 1 else _resize(image, h, w)
                self.images.append(scaled)
        if not self.images:
            raise ValueError(f"no image under {folder} is at least {crop} pixels on each side")
        # Sample images in proportion to their area, so each pixel is equally likely.
        areas = torch.tensor([img.shape[1] * img.shape[2] for img in self.images], dtype=torch.float64)
        self.weights = areas / areas.sum()

    def batch(self, step: int, batch_size: int) -> Tensor:
        """``(batch_size, 3, crop, crop)`` float in [-1, 1] for this step."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        picks = torch.multinomial(self.weights, batch_size, replacement=True, generator=gen)
        crops = []
        for index in picks.tolist():
            image = self.images[index]
            y = int(torch.randint(0, image.shape[1] - self.crop + 1, (1,), generator=gen))
            x = int(torch.randint(0, image.shape[2] - self.crop + 1, (1,), generator=gen))
            crop = image[:, y : y + self.crop, x : x + self.crop]
            if bool(torch.randint(0, 2, (1,), generator=gen)):
                crop = crop.flip(-1)
            crops.append(crop)
        return torch.stack(crops).float() / 127.5 - 1.0


def _resize(image: Tensor, height: int, width: int) -> Tensor:
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    return (
        torch.from_numpy(np.array(pil.resize((width, height), Image.LANCZOS))).permute(2, 0, 1).contiguous()
    )


def eval_tiles(folder: str | Path, size: int = 256) -> Tensor:
    """Every non-overlapping ``size x size`` tile of every image, uint8 ``(N, 3, size, size)``.

    Tiles rather than one centre crop per photo, so a few held-out photos give enough
    tokens to measure codebook usage.
    """
    tiles = []
    for path in image_files(folder):
        image = load_rgb(path)
        for y in range(0, image.shape[1] - size + 1, size):
            for x in range(0, image.shape[2] - size + 1, size):
                tiles.append(image[:, y : y + size, x : x + size])
    if not tiles:
        raise ValueError(f"no image under {folder} is at least {size} pixels on each side")
    return torch.stack(tiles)
