"""``tzoo train-ntp`` and ``tzoo sample``: train a next-token-prediction model, and sample it
(text to stdout; images, with classifier-free guidance, decoded to a PNG grid; speech
continued from a prompt file, decoded to WAV)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tokenizers_zoo.cli.common import UsageError
from tokenizers_zoo.errors import InvalidTokensError


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
    import torch

    from tokenizers_zoo.ntp.train import load_model

    if args.num_samples < 1:
        raise UsageError(f"-n must be at least 1, got {args.num_samples}")
    model, vocab, meta = load_model(args.checkpoint)
    generator = torch.Generator().manual_seed(args.seed)
    fmt = meta.get("format", "text")
    if args.audio is not None and fmt != "speech_continuation":
        raise UsageError(f"{args.checkpoint} is a {fmt} model: --audio is for speech-continuation models")
    if fmt in IMAGE_FORMATS:
        return _sample_images(args, model, vocab, meta, generator)
    if fmt == "speech_continuation":
        return _sample_speech(args, model, vocab, generator)
    if args.label is not None or args.output is not None or args.cfg != 1.0:
        raise UsageError(f"{args.checkpoint} is a {fmt} model: --class, --cfg and -o are for media models")
    if fmt != "text":
        raise UsageError(
            f"{args.checkpoint} is a {fmt} model; tzoo sample takes text, image and speech models"
        )
    return _sample_text(args, model, vocab, generator)


#: The formats tzoo sample draws images from, and what conditions them.
IMAGE_FORMATS = {"class_conditional": "--class", "caption_conditional": "--prompt"}


def _sample_text(args: argparse.Namespace, model: Any, vocab: Any, generator: Any) -> int:
    import torch

    from tokenizers_zoo.ntp.sample import generate

    text = "\n" if args.prompt is None else args.prompt
    prompt = torch.from_numpy(vocab.text.encode(text))[None].repeat(args.num_samples, 1)
    block = model.config.block_size
    room = block - prompt.shape[1]
    if room < 1:
        raise InvalidTokensError(
            f"the prompt is {prompt.shape[1]} tokens, the model's whole block is {block}"
        )
    if args.max_new_tokens > room:
        print(
            f"tzoo: generating {room} tokens: prompt and output fit in the block of {block}", file=sys.stderr
        )
    new = min(args.max_new_tokens, room)
    out = generate(model, prompt, new, args.temperature, args.top_k, args.top_p, generator=generator)
    for row in out:
        print(vocab.text.decode(row.tolist()))
        print("---")
    return 0


def _sample_images(args: argparse.Namespace, model: Any, vocab: Any, meta: dict, generator: Any) -> int:
    from tokenizers_zoo.cli.common import output_path
    from tokenizers_zoo.formats import decoder_name
    from tokenizers_zoo.media.files import output_type
    from tokenizers_zoo.media.image import write_image
    from tokenizers_zoo.ntp.decode import decode_images, image_grid, media_tokenizer
    from tokenizers_zoo.ntp.sample import sample_images
    from tokenizers_zoo.ntp.sequence import image_prompt

    fmt = meta["format"]
    if args.output is None:
        raise UsageError(f"{args.checkpoint} is an image model: say where the image goes with -o OUT.png")
    out = output_path(args.output)
    kind = output_type("image", out)
    if fmt == "class_conditional" and args.prompt is not None:
        raise UsageError(f"{args.checkpoint} is class-conditional: give --class, not --prompt")
    if fmt == "caption_conditional" and args.label is not None:
        raise UsageError(f"{args.checkpoint} is caption-conditional: give --prompt, not --class")
    condition = _label(args.label, meta.get("labels") or []) if fmt == "class_conditional" else args.prompt
    if condition is None and args.cfg != 1.0:
        raise UsageError(f"--cfg guides towards {IMAGE_FORMATS[fmt]}; give one, or leave --cfg at 1")
    grid = _grid(args.resolution, vocab.resolutions)
    tok = media_tokenizer(vocab, "image")  # before sampling: a mismatch costs nothing
    prompts = [image_prompt(vocab, condition, grid)] * args.num_samples
    unconditional = [image_prompt(vocab, None, grid)] * args.num_samples if args.cfg != 1.0 else None
    sequences = sample_images(
        model,
        vocab,
        fmt,
        prompts,
        unconditional,
        args.cfg,
        args.temperature,
        args.top_k,
        args.top_p,
        generator,
    )
    images = decode_images(vocab, sequences, tok)
    out.write_bytes(write_image(image_grid(images), decoder_name("image", kind)))
    what = "unconditional" if condition is None else f"{IMAGE_FORMATS[fmt][2:]} {condition!r}"
    print(f"{len(images)} {grid[0]}x{grid[1]}-token images ({what}, cfg {args.cfg}) -> {out}")
    return 0


def _sample_speech(args: argparse.Namespace, model: Any, vocab: Any, generator: Any) -> int:
    """Continue the --audio prompt: encoded as the training data was, continued under the
    audio rules, decoded at the bandwidth of the model's codebooks, written prompt first."""
    import math

    from tokenizers_zoo.cli.codec import MAX_BYTES, item_paths, read_media_file
    from tokenizers_zoo.cli.common import output_path
    from tokenizers_zoo.media.files import NO_LIMITS, output_type, render_media
    from tokenizers_zoo.ntp.decode import audio_codes, decode_one, media_tokenizer, speech_bandwidth
    from tokenizers_zoo.ntp.sample import sample_speech

    if args.audio is None or args.output is None:
        raise UsageError(
            f"{args.checkpoint} is a speech-continuation model: give the prompt with --audio FILE "
            "and the output with -o OUT.wav"
        )
    if args.label is not None or args.prompt is not None or args.cfg != 1.0:
        raise UsageError(
            f"{args.checkpoint} is a speech-continuation model: --class, --prompt and --cfg do not apply"
        )
    if not 0 < args.seconds < math.inf:
        raise UsageError(f"--seconds must be a positive number, got {args.seconds}")
    out = output_path(args.output)
    kind = output_type("audio", out)
    tok = media_tokenizer(vocab, "audio")
    bandwidth = speech_bandwidth(vocab, tok)  # before sampling: an undecodable model costs nothing
    media = read_media_file(args.audio, tok.name, "audio", MAX_BYTES, NO_LIMITS)
    prompt = audio_codes(vocab, media.array, media.sample_rate, tok)
    rate = tok.info.sample_rate / tok.info.temporal_factor
    frames = max(1, round(args.seconds * rate))
    codes = sample_speech(
        model, vocab, prompt, frames, args.num_samples, args.temperature, args.top_k, args.top_p, generator
    )
    paths = item_paths(out, len(codes))
    for path, item in zip(paths, codes, strict=True):
        path.write_bytes(render_media("audio", decode_one(tok, item), kind, tok.info.sample_rate))
    longest = max(item.shape[1] for item in codes) - prompt.shape[1]
    at = f" at {bandwidth:g} kbps" if bandwidth is not None else ""
    print(
        f"{len(codes)} continuation(s) of {prompt.shape[1] / rate:.2f} s of speech by up to "
        f"{longest / rate:.2f} s ({tok.name}, {prompt.shape[0]} codebooks{at}) -> "
        + ", ".join(map(str, paths))
    )
    return 0


def _label(value: str | None, names: list[str]) -> int | None:
    """A class given by id or by name."""
    if value is None:
        return None
    if value in names:
        return names.index(value)
    try:
        return int(value)
    except ValueError:
        known = ", ".join(names) or "none"
        raise UsageError(f"--class {value}: not a class id or name (names: {known})") from None


def _grid(value: str | None, known: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    if value is None:
        if not known:
            raise UsageError("the model's vocabulary has no resolution tokens")
        return known[0]
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise UsageError(f"--resolution must be HxW, e.g. 16x16, got {value!r}") from None
    return h, w
