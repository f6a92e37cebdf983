"""The figures of a reconstruction benchmark, drawn from what the runs kept:

- ``recon_grid.png`` (images, video: middle frames): one row per sample, the original
  then each run, so artefacts are compared on the same pixels;
- ``spectrograms.png`` (audio): log-mel spectrograms of the original and each run;
- ``rate_distortion.png``: each quality metric against bits per pixel or kbps, when at
  least two runs have a bit rate; the runs of one tokenizer (a sweep) are joined.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokenizers_zoo.benchmarks.recon_scorers import SCORERS
from tokenizers_zoo.metrics import log_mel

FIGURES = ("recon_grid.png", "spectrograms.png", "rate_distortion.png")


def write_figures(results: dict[str, Any], previews: dict[str, Any], out: Path) -> list[str]:
    """Draw what applies; returns the file names written (none without matplotlib)."""
    if not results["runs"] or not previews["original"]:
        return []
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        print("matplotlib is not installed (pip install 'tokenizers-zoo[bench]'): no figures written")
        return []
    written = []
    if results["modality"] == "audio":
        written.append(_spectrograms(results, previews, out / FIGURES[1]))
    else:
        written.append(_grid(results, previews, out / FIGURES[0]))
    rated = [run for run in results["runs"] if run["summary"].get(_rate_key(results)) is not None]
    if len(rated) >= 2:
        written.append(_rate_distortion(results, rated, out / FIGURES[2]))
    return written


def _rate_key(results: dict[str, Any]) -> str:
    return "kbps" if results["modality"] == "audio" else "bpp"


def _panels(previews: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """The originals, then each run that kept previews, with their labels."""
    return [("original", previews["original"])] + [(k, v) for k, v in previews["runs"].items() if v]


def _sample_names(results: dict[str, Any], count: int) -> list[str]:
    rows = results["runs"][0]["samples"]
    return [rows[i]["sample"] for i in range(min(count, len(rows)))]


def _grid(results: dict[str, Any], previews: dict[str, Any], path: Path) -> str:
    import matplotlib.pyplot as plt

    originals = previews["original"]
    columns = _panels(previews)
    names = _sample_names(results, len(originals))
    fig, axes = plt.subplots(
        len(originals), len(columns), figsize=(2.6 * len(columns), 2.6 * len(originals)), squeeze=False
    )
    for col, (label, images) in enumerate(columns):
        for row in range(len(originals)):
            ax = axes[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            if row < len(images):
                ax.imshow(images[row])
            if row == 0:
                ax.set_title(label, fontsize=8)
            if col == 0:
                ax.set_ylabel(names[row], fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def _log_mel(wave: np.ndarray, rate: int) -> np.ndarray:
    """In dB: the spectrogram ``mel_distance`` compares."""
    return 10 * log_mel(torch.from_numpy(np.ascontiguousarray(wave, np.float32)), rate).numpy()


def _spectrograms(results: dict[str, Any], previews: dict[str, Any], path: Path) -> str:
    import matplotlib.pyplot as plt

    originals = previews["original"]
    rows = _panels(previews)
    names = _sample_names(results, len(originals))
    fig, axes = plt.subplots(
        len(rows), len(originals), figsize=(5 * len(originals), 1.6 * len(rows)), squeeze=False, sharex="col"
    )
    for col, (wave, rate) in enumerate(originals):
        reference = _log_mel(wave, rate)
        low, high = reference.max() - 80, reference.max()
        for row, (label, waves) in enumerate(rows):
            ax = axes[row][col]
            if col < len(waves):
                spec = reference if row == 0 else _log_mel(*waves[col])
                seconds = len(wave) / rate
                ax.imshow(
                    spec, origin="lower", aspect="auto", vmin=low, vmax=high, extent=(0, seconds, 0, 80)
                )
            ax.set_yticks([])
            ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
            if row == 0:
                ax.set_title(f"{names[col]} ({rate} Hz, log-mel, 80 bands)", fontsize=8)
        axes[-1][col].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def _rate_distortion(results: dict[str, Any], runs: list[dict[str, Any]], path: Path) -> str:
    import matplotlib.pyplot as plt

    rate_key = _rate_key(results)
    columns = [
        c
        for c in SCORERS[results["modality"]].columns
        if any(r["summary"].get(c.key) is not None for r in runs)
    ]
    fig, axes = plt.subplots(1, len(columns), figsize=(4 * len(columns), 3.4), squeeze=False)
    for ax, column in zip(axes[0], columns, strict=True):
        for tokenizer in dict.fromkeys(r["tokenizer"] for r in runs):
            points = sorted(
                (r["summary"][rate_key], r["summary"][column.key])
                for r in runs
                if r["tokenizer"] == tokenizer and r["summary"].get(column.key) is not None
            )
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            finite = [min(y, 100.0) for y in ys]  # a lossless PSNR is drawn at 100 dB
            ax.plot(xs, finite, marker="o", label=tokenizer)
        ax.set(xscale="log", xlabel=rate_key, title=column.heading)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name
