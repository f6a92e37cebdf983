"""Gather real speech for training and evaluating audio tokenizers, with no hub downloads.

Sources: the Debian packages asterisk-core-sounds-en-g722 (16 kHz G.722, decoded with
PyAV) and asterisk-core-sounds-en-wav (the same prompts at 8 kHz), fetched with
``apt-get download`` and unpacked with ``dpkg -x``; nothing is installed. One speaker
(Allison), about 22 minutes of prompts, digits, letters and phonetic words.

Written as 16-bit mono WAV: ``OUT/train`` and ``OUT/eval`` at 16 kHz, and
``OUT/eval-8k`` with the held-out prompts at 8 kHz (narrow-band PESQ).

Held out for evaluation (never trained on): every ``EVAL_EVERY``-th recording in sorted
path order, so the eval set spans prompts, digits and letters. Silence files are skipped.

    python scripts/gather_audio_data.py --out data/audio
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tokenizers_zoo.media.audio import read_audio, write_wav

DEBIAN_PACKAGES = ("asterisk-core-sounds-en-g722", "asterisk-core-sounds-en-wav")
SOUNDS = Path("usr/share/asterisk/sounds/en_US_f_Allison")
EVAL_EVERY = 10
MIN_SECONDS = 0.5


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def gather(out: Path) -> dict[str, int]:
    counts = {"train": 0, "eval": 0, "eval-8k": 0}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _run(["apt-get", "download", *DEBIAN_PACKAGES], work)
        for deb in work.glob("*.deb"):
            _run(["dpkg", "-x", str(deb), "root"], work)
        root = work / "root" / SOUNDS
        recordings = sorted(p for p in root.rglob("*.g722") if "silence" not in p.relative_to(root).parts)
        for split in counts:
            (out / split).mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(recordings):
            samples, rate = read_audio(path, "g722")
            if samples.shape[-1] < MIN_SECONDS * rate:
                continue
            name = "-".join(path.relative_to(root).with_suffix("").parts) + ".wav"
            split = "eval" if i % EVAL_EVERY == 0 else "train"
            (out / split / name).write_bytes(write_wav(samples, rate))
            counts[split] += 1
            narrow = path.with_suffix(".wav")
            if split == "eval" and narrow.is_file():
                samples8, rate8 = read_audio(narrow, "wav")
                (out / "eval-8k" / name).write_bytes(write_wav(samples8.astype(np.float32), rate8))
                counts["eval-8k"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("data/audio"))
    args = parser.parse_args()
    counts = gather(args.out)
    print(", ".join(f"{split}: {n} recordings" for split, n in counts.items()), f"under {args.out}")


if __name__ == "__main__":
    main()
