"""``tzoo train-ntp`` and ``tzoo sample``: train a next-token-prediction model, and sample it
(text to stdout; images, with classifier-free guidance, decoded to a PNG grid; speech
continued from a prompt file, decoded to WAV)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tokenizers_zoo.cli.common import UsageError


def add_commands(sub: Any) -> None:
    p = sub.add_parser("train-ntp", help="train a next-token-prediction model from a YAML config (resumes)")
    p.add_argument("--config", required=True, help="YAML file, e.g. configs/ntp/shakespeare-char.yaml")
    p.add_argument("overrides", nargs="*", help="section.key=value, e.g. optim.max_steps=200 run.dir=runs/x")
    p.add_argument("--restart", action="store_true", help="ignore a checkpoint in the run dir")
    p.set_defaults(func=train_command)

    p = sub.add_parser("sample", help="sample text, or images (class- or caption-conditional models)")
    p.add_argument("--checkpoint", required=True, help="the run directory train-ntp wrote")
    p.add_argument("--prompt", help="text to continue (default: a newline), or the caption of an image")
    p.add_argument("--class", dest="label", help="class-conditional models: the class, by id or name")
    p.add_argument("--cfg", type=float, default=1.0, help="classifier-free guidance scale (1: none)")
    p.add_argument("--resolution", help="image models: the token grid HxW (default: the model's first)")
    p.add_argument("--audio", help="speech-continuation models: the prompt, a WAV (or other audio) file")
    p.add_argument("--seconds", type=float, default=3.0, help="speech models: seconds to continue by")
    p.add_argument(
        "-o", "--output", help="image models: OUT.png (a grid of the -n samples); speech models: OUT.wav"
    )
    p.add_argument("-n", "--num-samples", type=int, default=1)
    p.add_argument("--max-new-tokens", type=int, default=200, help="text models")
    p.add_argument("--temperature", type=float, default=0.8, help="0: greedy")
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=sample_command)


def train_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.ntp.distributed import launched_rank
    from tokenizers_zoo.ntp.train import load_ntp_config, train

    cfg = load_ntp_config(args.config, args.overrides)
    last = train(cfg, resume=not args.restart, log=lambda line: print(line, file=sys.stderr))
    if launched_rank() == 0:  # under torchrun, one summary for the run
        print(json.dumps({"run_dir": cfg.run.dir, **last}))
    return 0


def sample_command(args: argparse.Namespace) -> int:
    """The flags as a ``generate.Prompt``; what the checkpoint makes goes to stdout (text) or
    to ``-o`` (a PNG grid of the images, a WAV per speech sample)."""
    from tokenizers_zoo.ntp.generate import CONDITIONS, Generator, Prompt

    if args.num_samples < 1:
        raise UsageError(f"-n must be at least 1, got {args.num_samples}")
    generator = Generator(args.checkpoint)
    fmt, modality = generator.format, generator.modality
    if modality == "text" and (args.label is not None or args.output is not None or args.cfg != 1.0):
        raise UsageError(f"{args.checkpoint} is a text model: --class, --cfg and -o are for media models")
    if args.audio is not None and modality != "audio":
        raise UsageError(f"{args.checkpoint} is a {fmt} model: --audio is for speech-continuation models")
    if modality == "audio" and (args.audio is None or args.output is None):
        raise UsageError(
            f"{args.checkpoint} is a speech-continuation model: give the prompt with --audio FILE "
            "and the output with -o OUT.wav"
        )
    if modality == "image" and args.output is None:
        raise UsageError(f"{args.checkpoint} is an image model: say where the image goes with -o OUT.png")
    out, kind = _output(args.output, modality)
    text = args.prompt if CONDITIONS.get(fmt) == "text" else None
    caption = args.prompt if CONDITIONS.get(fmt) == "caption" else None
    if args.prompt is not None and text is None and caption is None:
        raise UsageError(f"{args.checkpoint} is a {fmt} model: --prompt is for text and caption models")
    prompt = Prompt(
        label=args.label,
        caption=caption,
        text=text,
        audio=_audio(args.audio, generator) if args.audio is not None else None,
        n=args.num_samples,
        cfg=args.cfg,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        resolution=_grid(args.resolution),
        max_new_tokens=args.max_new_tokens,
        seconds=args.seconds,
    )
    plan = generator.plan(prompt)
    for note in plan.notes:
        print(f"tzoo: {note}", file=sys.stderr)
    made = generator(plan)
    if modality == "text":
        for text in made.texts:
            print(text)
            print("---")
        return 0
    written = _write(made, out, kind)
    print(f"{made.summary} -> {', '.join(map(str, written))}")
    return 0


def _output(path: str | None, modality: str) -> tuple[Any, str | None]:
    """Where the media go, and their type (by the name), checked before any sampling."""
    from tokenizers_zoo.cli.common import output_path
    from tokenizers_zoo.media.files import output_type

    if path is None:
        return None, None
    out = output_path(path)
    return out, output_type(modality, out)


def _audio(path: str, generator: Any) -> tuple[Any, int]:
    """The --audio prompt file's samples and rate."""
    from tokenizers_zoo.cli.codec import MAX_BYTES, read_media_file
    from tokenizers_zoo.media.files import NO_LIMITS

    media = read_media_file(path, generator.tokenizer.name, "audio", MAX_BYTES, NO_LIMITS)
    return media.array, media.sample_rate


def _write(made: Any, out: Any, kind: str | None) -> list[Any]:
    """Images as one grid; audio as one file per sample (``OUT_0.wav``, ... for several)."""
    from tokenizers_zoo.cli.codec import item_paths
    from tokenizers_zoo.media.files import render_media
    from tokenizers_zoo.ntp.decode import image_grid

    if made.modality == "image":
        out.write_bytes(render_media("image", image_grid(made.media), kind, None))
        return [out]
    paths = item_paths(out, len(made.media))
    for path, item in zip(paths, made.media, strict=True):
        path.write_bytes(render_media("audio", item, kind, made.sample_rate))
    return paths


def _grid(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise UsageError(f"--resolution must be HxW, e.g. 16x16, got {value!r}") from None
    return h, w
