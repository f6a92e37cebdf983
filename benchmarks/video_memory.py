"""``tzoo bench video-memory``: does encoding a long clip take more memory than a short one?

Issue 19's target is that ``tzoo encode`` of 60 s of 256 x 256 at 25 fps peaks within 20%
of encoding 5 s. That holds only if the frames go from the file through the causal
tokenizer's windows (``media.video.iter_video`` into ``encode_stream``), never all in
memory at once. So this writes a synthetic clip of each length (a textured scene under a
moving camera, with a square crossing it, as H.264 mp4), runs ``tzoo encode`` on each in
a fresh process, and reads that process's peak resident set the way every benchmark here
does (``benchmarks/memory.py``: the peak reset at the start of the command, VmHWM after
it). Two figures per clip: the process's peak (what the machine must have) and its rise
over the process before the command (the interpreter with torch imported), the part that
could grow with the clip. The ratio of the longest clip's peak to the shortest's is the
one the target names.

Speed is the clip's frames over the whole command (loading the tokenizer included), and,
between two lengths, the extra frames over the extra time, which leaves the fixed costs
out. The load average is recorded with it: on a shared machine it is a contended figure.

With no ``--tokenizer``, the trained ``video-fsq-4x8x8-4k`` is used when this machine has
it (registered, or its checkpoint in the package's weights folder); otherwise
``CausalVideoTokenizer.inflated(image-fsq-f8-4k)``, saved to a temporary checkpoint, and
the output says so: the same architecture before video training, so the same memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers_zoo.errors import TokenizersZooError, UnsupportedMediaTypeError

#: The trained causal tokenizer this measures when it is on the machine.
TRAINED = "video-fsq-4x8x8-4k"
#: The image tokenizer inflated in its place when it is not.
INFLATED_FROM = "image-fsq-f8-4k"
#: The issue's target: the longest clip's peak over the shortest's.
TARGET_RATIO = 1.2

#: The child process: ``tzoo encode ARGS`` inside ``measure`` and the peak as JSON on its
#: last line. A program string, because the benchmarks layer sits below the CLI's.
_CHILD = """\
import json, sys
from tokenizers_zoo.benchmarks.memory import measure, status_kib
from tokenizers_zoo.cli.main import main
with measure("cpu") as measured:
    code = main(["encode", *sys.argv[1:]])
print(json.dumps({"code": code, "seconds": measured.seconds, "rise_mib": measured.peak_extra_mib,
                  "peak_mib": status_kib("VmHWM") / 1024}))
"""


class EncodeRunError(TokenizersZooError, RuntimeError):
    """A ``tzoo encode`` the benchmark started failed; its own error says why."""


def synthetic_clip(frames: int, size: int, seed: int = 0) -> Any:
    """uint8 ``(frames, size, size, 3)``: a view into a textured scene twice the clip's size
    (smooth colour noise at three scales, with stripes for edges) that the camera pans
    across to and fro, and a bright square crossing it, so every frame differs and has
    detail at every scale, as footage does."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    side = 2 * size
    scene = np.zeros((side, side, 3), np.float32)
    for cells, weight in ((4, 0.5), (16, 0.3), (64, 0.2)):
        noise = rng.random((cells, cells, 3), np.float32)
        scene += weight * np.asarray(
            Image.fromarray((noise * 255).astype(np.uint8)).resize((side, side), Image.Resampling.BICUBIC),
            np.float32,
        )
    rows = np.arange(side)[:, None]
    scene += np.where((rows + np.arange(side)[None]) // 12 % 2, 30.0, -30.0)[..., None]  # diagonal stripes
    scene = scene.clip(0, 255).astype(np.uint8)
    t = np.arange(frames)
    # Swings across the scene's spare half, at up to 2 (down) and 3 (across) pixels a frame.
    ys = np.round((size / 2) * (1 + np.sin(4 * t / size))).astype(int)
    xs = np.round((size / 2) * (1 + np.sin(6 * t / size))).astype(int)
    clip = np.stack([scene[y : y + size, x : x + size] for y, x in zip(ys, xs, strict=True)])
    square = max(2, size // 8)
    for index in range(frames):
        top = (3 * index) % (size - square)
        left = (5 * index) % (size - square)
        clip[index, top : top + square, left : left + square] = (250, 240, 40)
    return clip


@dataclass(frozen=True)
class Chosen:
    """The tokenizer measured: what ``tzoo encode`` is given (a registered name or a
    checkpoint directory), its name, a line saying what it is, and whether it streams."""

    argument: str
    name: str
    note: str
    streams: bool


def resolve_tokenizer(name: str | None, scratch: Path) -> Chosen:
    """``name`` (a registered name or a checkpoint directory); by default the trained
    ``TRAINED`` if this machine has it, else ``INFLATED_FROM`` inflated and saved under
    ``scratch`` (see the module)."""
    import tokenizers_zoo as tz
    from tokenizers_zoo.errors import WeightsNotFoundError
    from tokenizers_zoo.registry import PACKAGE_DIR, is_checkpoint
    from tokenizers_zoo.tokenizers import CausalVideoTokenizer

    if name:
        tok = tz.load(name)
        if tok.info.modality != "video":
            raise UnsupportedMediaTypeError(
                f"{name} is an {tok.info.modality} tokenizer; this measures video ones"
            )
        note = f"tokenizer: {tok.name} ({type(tok).__name__}, from {name})"
        return Chosen(name, tok.name, note, hasattr(tok, "encode_stream"))
    shipped = PACKAGE_DIR / "weights" / TRAINED
    candidates = [TRAINED] if TRAINED in tz.list_tokenizers() else []
    candidates += [str(shipped)] if is_checkpoint(shipped) else []
    for candidate in candidates:
        try:
            tok = tz.load(candidate)
        except WeightsNotFoundError:
            continue
        note = f"tokenizer: {tok.name}, trained (from {candidate})"
        return Chosen(candidate, tok.name, note, hasattr(tok, "encode_stream"))
    inflated = CausalVideoTokenizer.inflated(tz.load(INFLATED_FROM))
    path = inflated.save_pretrained(scratch / "inflated")
    note = (
        f"tokenizer: no trained {TRAINED} on this machine, so CausalVideoTokenizer.inflated("
        f"{INFLATED_FROM}) ({inflated.name}, saved to a temporary checkpoint): the architecture "
        "before video training, so the same memory, with untrained temporal layers"
    )
    return Chosen(str(path), inflated.name, note, True)


def encode_peak(tokenizer: str, clip: Path, tokens: Path) -> dict[str, Any]:
    """Peak memory and time of ``tzoo encode tokenizer clip -o tokens`` in a fresh process."""
    argv = [tokenizer, str(clip), "-o", str(tokens), "--max-bytes", str(clip.stat().st_size)]
    done = subprocess.run([sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if done.returncode == 0 and lines else {"code": done.returncode}
    if report["code"] != 0:
        why = (done.stderr.strip().splitlines() or ["no error printed"])[-1]
        raise EncodeRunError(f"tzoo encode of {clip.name} failed (exit {report['code']}): {why}")
    return report


def run_video_memory_benchmark(
    tokenizer: str | None = None,
    seconds: tuple[float, ...] = (5.0, 60.0),
    size: int = 256,
    fps: float = 25.0,
    out_dir: str | None = None,
) -> dict[str, Any]:
    """Measure each length, print a line each and the ratio against ``TARGET_RATIO``, and
    write ``results.json`` and ``stdout.txt`` into ``out_dir``."""
    import torch

    from tokenizers_zoo.benchmarks.machine import code_commit, cpu_model, package_versions
    from tokenizers_zoo.media.video import MP4_CODEC, save_video

    printed: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        printed.append(line)

    load_before = os.getloadavg()[0]
    runs = []
    with tempfile.TemporaryDirectory(prefix="tzoo-bench-video-memory-") as tmp:
        scratch = Path(tmp)
        chosen = resolve_tokenizer(tokenizer, scratch)
        say(chosen.note)
        if not chosen.streams:
            say("  it has no encode_stream: tzoo encode reads the whole clip, so memory grows with it")
        say(
            f"clips: {size}x{size} at {fps:g} fps, {MP4_CODEC} mp4, a textured scene under a moving "
            "camera; each encoded by tzoo encode in a fresh process"
        )
        for length in sorted(seconds):
            frames = max(1, round(length * fps))
            clip = scratch / f"clip-{length:g}s.mp4"
            save_video(synthetic_clip(frames, size), fps, clip)
            report = encode_peak(chosen.argument, clip, scratch / f"tokens-{length:g}s.json")
            run = {
                "seconds": length,
                "frames": frames,
                "file_bytes": clip.stat().st_size,
                "peak_mib": round(report["peak_mib"], 1),
                "rise_mib": round(report["rise_mib"], 1),
                "wall_s": round(report["seconds"], 2),
                "frames_per_s": round(frames / report["seconds"], 2),
            }
            runs.append(run)
            clip.unlink()
            say(
                f"{length:>6g} s: {frames:>5} frames, peak RSS {run['peak_mib']:7.1f} MiB "
                f"(rise {run['rise_mib']:6.1f} MiB), {run['wall_s']:7.1f} s, "
                f"{run['frames_per_s']:.2f} frames/s"
            )
    shortest, longest = runs[0], runs[-1]
    ratio = longest["peak_mib"] / shortest["peak_mib"]
    rise_ratio = longest["rise_mib"] / max(shortest["rise_mib"], 1e-9)
    met = ratio <= TARGET_RATIO
    say(
        f"peak {longest['seconds']:g} s / {shortest['seconds']:g} s: {ratio:.3f} "
        f"(target <= {TARGET_RATIO}: {'met' if met else 'NOT met'}); rise ratio {rise_ratio:.3f}"
    )
    extra_frames = longest["frames"] - shortest["frames"]
    extra_seconds = longest["wall_s"] - shortest["wall_s"]
    marginal = extra_frames / extra_seconds if extra_frames and extra_seconds > 0 else None
    load_after = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    if marginal is not None:
        say(f"encode speed past the fixed costs: {marginal:.2f} frames/s")
    contended = max(load_before, load_after) >= 0.5 * cpus
    say(
        f"torch threads {torch.get_num_threads()} on {cpus} CPUs ({cpu_model()}); load average "
        f"{load_before:.1f} before, {load_after:.1f} after"
        + (": other work shared the CPUs, so the speed figures are contended" if contended else "")
    )
    results = {
        "tokenizer": chosen.name,
        "tokenizer_note": chosen.note,
        "streamed": chosen.streams,
        "size": size,
        "fps": fps,
        "codec": MP4_CODEC,
        "runs": runs,
        "peak_ratio": round(ratio, 4),
        "rise_ratio": round(rise_ratio, 4),
        "target_ratio": TARGET_RATIO,
        "target_met": met,
        "marginal_frames_per_s": None if marginal is None else round(marginal, 3),
        "machine": {
            "cpu": cpu_model(),
            "cpus": cpus,
            "torch_threads": torch.get_num_threads(),
            "load_average_before": round(load_before, 2),
            "load_average_after": round(load_after, 2),
            "contended": contended,
        },
        "code_commit": code_commit(),
        "packages": package_versions(("torch", "av", "numpy")),
    }
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        (out / "stdout.txt").write_text("\n".join(printed) + "\n")
    return results
