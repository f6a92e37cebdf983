"""Gather real speech for training and evaluating audio tokenizers, with no hub downloads.

Sources are voices (``VOICES``), each one Debian package of telephony prompts fetched with
``apt-get download`` and unpacked with ``dpkg -x`` (nothing is installed):

- 16 kHz G.722 (decoded with PyAV): asterisk-core-sounds-en-g722 (Allison, US English,
  about 22 minutes of prompts, digits, letters and phonetic words), -it-g722 (Carlo,
  Italian), -ru-g722 (a Russian IVR voice);
- 8 kHz, narrow-band (GSM 06.10 or 16-bit WAV): asterisk-prompt-es-co (Colombian Spanish),
  -fr-armelle (French), -it-menardi-wav (Italian). Written at 8 kHz as they are; the
  training loader resamples every file to the codec's rate.

Written as 16-bit mono WAV under ``OUT/train/VOICE`` and ``OUT/eval/VOICE`` (held out, never
trained on: every ``EVAL_EVERY``-th recording of each voice in sorted path order, so each
voice's eval set spans its prompts, digits and letters), and ``OUT/eval-8k/en-allison``
with Allison's held-out prompts at 8 kHz (asterisk-core-sounds-en-wav; narrow-band PESQ).
Silence files and clips under ``MIN_SECONDS`` are skipped.

``OUT/unseen/VOICE``: every recording of asterisk-core-sounds-fr-g722 (June, Canadian
French) and -es-g722 (Allison's Mexican Spanish), reserved for independent evaluation: no
training run or model choice may look at them. ``--voices en-allison --no-unseen`` gives
the one-voice set the shipped ``audio-rvq-16khz`` was trained on (497 / 55 recordings).

    python scripts/gather_audio_data.py --out data/audio
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from tokenizers_zoo.errors import InvalidMediaError
from tokenizers_zoo.media.audio import read_audio, write_wav


@dataclass(frozen=True)
class Voice:
    name: str
    package: str
    suffix: str  # the recordings' files: .g722, .gsm or .wav


VOICES = (
    Voice("en-allison", "asterisk-core-sounds-en-g722", ".g722"),
    Voice("it-carlo", "asterisk-core-sounds-it-g722", ".g722"),
    Voice("ru-ivr", "asterisk-core-sounds-ru-g722", ".g722"),
    Voice("es-co-july", "asterisk-prompt-es-co", ".gsm"),
    Voice("fr-armelle", "asterisk-prompt-fr-armelle", ".gsm"),
    Voice("it-menardi", "asterisk-prompt-it-menardi-wav", ".wav"),
)
UNSEEN = (
    Voice("fr-ca-june", "asterisk-core-sounds-fr-g722", ".g722"),
    Voice("es-mx-allison", "asterisk-core-sounds-es-g722", ".g722"),
)
NARROW_BAND = "asterisk-core-sounds-en-wav"  # Allison's prompts at 8 kHz, for eval-8k
SOUNDS = Path("usr/share/asterisk/sounds")
EVAL_EVERY = 10
MIN_SECONDS = 0.5


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def unpack(package: str, work: Path) -> Path:
    """``package``'s sounds folder, downloaded and unpacked under ``work``."""
    root = work / package
    root.mkdir()
    _run(["apt-get", "download", package], root)
    for deb in root.glob("*.deb"):
        _run(["dpkg", "-x", str(deb), "files"], root)
    return root / "files" / SOUNDS


def read_recording(path: Path) -> tuple[np.ndarray, int]:
    """A recording as float32 ``(1, T)`` and its rate; GSM 06.10 is decoded by PyAV here, as
    raw GSM has no header and the zoo's readers do not take it."""
    if path.suffix != ".gsm":
        return read_audio(path, path.suffix[1:])
    with av.open(str(path), format="gsm") as f:
        stream = f.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="mono")
        frames = [out.to_ndarray() for frame in f.decode(stream) for out in resampler.resample(frame)]
        return np.concatenate(frames, axis=-1).astype(np.float32), int(stream.rate)


def recordings(sounds: Path, suffix: str) -> list[Path]:
    return sorted(p for p in sounds.rglob(f"*{suffix}") if "silence" not in p.relative_to(sounds).parts)


def write_voice(voice: Voice, work: Path, out: Path, held_out: bool) -> dict[str, int]:
    """Write one voice's recordings; with ``held_out`` every ``EVAL_EVERY``-th goes to eval."""
    sounds = unpack(voice.package, work)
    narrow = unpack(NARROW_BAND, work) if voice.name == "en-allison" and held_out else None
    counts = {"train": 0, "eval": 0, "eval-8k": 0} if held_out else {"unseen": 0}
    counts["skipped (empty or unreadable)"] = 0
    for i, path in enumerate(recordings(sounds, voice.suffix)):
        try:
            samples, rate = read_recording(path)
        except InvalidMediaError:
            counts["skipped (empty or unreadable)"] += 1
            continue
        if samples.shape[-1] < MIN_SECONDS * rate:
            continue
        relative = path.relative_to(sounds).with_suffix("")
        parts = relative.parts[1:] if voice.suffix == ".g722" else relative.parts  # drop en_US_f_Allison/
        name = "-".join(parts) + ".wav"
        split = ("eval" if i % EVAL_EVERY == 0 else "train") if held_out else "unseen"
        (out / split / voice.name).mkdir(parents=True, exist_ok=True)
        (out / split / voice.name / name).write_bytes(write_wav(samples, rate))
        counts[split] += 1
        twin = None if narrow is None else narrow / relative.with_suffix(".wav")
        if split == "eval" and twin is not None and twin.is_file():
            samples8, rate8 = read_audio(twin, "wav")
            (out / "eval-8k" / voice.name).mkdir(parents=True, exist_ok=True)
            (out / "eval-8k" / voice.name / name).write_bytes(write_wav(samples8.astype(np.float32), rate8))
            counts["eval-8k"] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("data/audio"))
    parser.add_argument(
        "--voices",
        default=",".join(v.name for v in VOICES),
        help="comma-separated voice names (default: all)",
    )
    parser.add_argument("--no-unseen", action="store_true", help="do not write OUT/unseen")
    args = parser.parse_args()
    known = {v.name: v for v in VOICES}
    wanted = [name.strip() for name in args.voices.split(",") if name.strip()]
    if unknown := [name for name in wanted if name not in known]:
        print(f"error: unknown voice(s) {unknown}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        chosen = [(known[name], True) for name in wanted]
        chosen += [] if args.no_unseen else [(voice, False) for voice in UNSEEN]
        for voice, held_out in chosen:
            counts = write_voice(voice, Path(tmp), args.out, held_out)
            listed = ", ".join(f"{split} {n}" for split, n in counts.items() if n)
            print(f"{voice.name} ({voice.package}): {listed} recordings")
    print(f"under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
