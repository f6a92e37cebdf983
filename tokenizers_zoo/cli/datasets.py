"""``tzoo tokenize-dataset`` and ``tzoo dataset info|verify`` (``tokenizers_zoo.datasets``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tokenizers_zoo.cli.common import EXIT_FAILURE


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "tokenize-dataset", help="tokenize a folder or list of images or audio into memory-mappable shards"
    )
    p.add_argument("--tokenizer", required=True, help="a registered name or a checkpoint directory")
    p.add_argument(
        "--input", required=True, help="a folder (searched recursively) or a file of paths, one a line"
    )
    p.add_argument("--output", required=True, help="the dataset folder (a rerun resumes it)")
    p.add_argument("--engine", choices=["local", "ray"], default="local", help="local (default) or ray")
    p.add_argument("--batch-size", type=int, default=16, help="inputs per batch (default 16)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes, or Ray actors (default 2)")
    p.add_argument("--shard-size", type=int, default=1024, help="inputs per shard (default 1024)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument(
        "--size",
        type=int,
        default=256,
        help="images and video frames: shorter side resized to N, then a centre N x N crop (default 256; "
        "0: native size, batches then group images of one size)",
    )
    p.add_argument("--labels", help="FILE (JSON {path: label} or path<TAB>label lines) or from-folders")
    p.add_argument("--captions", help="FILE (JSON {path: caption} or path<TAB>caption lines)")
    p.add_argument(
        "--latent-dtype", choices=["float32", "float16"], default="float32", help="continuous tokens"
    )
    p.add_argument("--weights", help="checkpoint directory or .safetensors file")
    p.add_argument(
        "--max-bytes", type=int, help="inputs over this many bytes fail as too-large (default 512 MiB)"
    )
    p.add_argument("--max-pixels", type=int, help="images over this many pixels fail (default 100 M)")
    p.add_argument("--max-seconds", type=float, help="audio or video longer than this fails (default 3600)")
    p.add_argument("--max-frames", type=int, help="videos of more frames fail (default 1000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=tokenize_command)

    dataset = sub.add_parser("dataset", help="describe or check a token dataset").add_subparsers(
        dest="dataset", required=True
    )
    p = dataset.add_parser("info", help="counts, tokens, bytes, tokenizer and errors")
    p.add_argument("directory")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=info_command)
    p = dataset.add_parser("verify", help="check every file's SHA-256 and every index against its token file")
    p.add_argument("directory")
    p.set_defaults(func=verify_command)


def tokenize_command(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tokenizers_zoo.datasets import Limits, tokenize_dataset

    limits = Limits()
    for field, value in (
        ("max_bytes", args.max_bytes),
        ("max_pixels", args.max_pixels),
        ("max_seconds", args.max_seconds),
        ("max_frames", args.max_frames),
    ):
        if value is not None:
            limits = replace(limits, **{field: value})
    summary = tokenize_dataset(
        args.tokenizer,
        args.input,
        args.output,
        engine=args.engine,
        batch_size=args.batch_size,
        workers=args.workers,
        shard_size=args.shard_size,
        device=args.device,
        labels=args.labels,
        captions=args.captions,
        size=args.size,
        latent_dtype=args.latent_dtype,
        limits=limits,
        weights=args.weights,
        progress=not args.no_progress,
    )
    print(summary.line())
    return EXIT_FAILURE if summary.errors else 0


def info_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.datasets import dataset_info

    info = dataset_info(args.directory)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    errors = ", ".join(f"{n} {kind}" for kind, n in sorted(info["errors_by_kind"].items()))
    step = f", step {info['training_step']}" if info["training_step"] is not None else ""
    weights = f", weights {info['weights_sha256'][:12]}" if info["weights_sha256"] else ""
    print(f"tokenizer   {info['tokenizer']} ({info['kind']}{step}{weights})")
    print(f"shards      {info['shards']}{'' if info['complete'] else ' (unfinished: rerun to resume)'}")
    print(f"items       {info['items']} of {info['inputs']} inputs, {info['labels']} labels")
    values = f", {info['elements']} values" if info["kind"] == "continuous" else ""
    print(f"tokens      {info['tokens']}{values} ({info['token_dtype']}), {info['bytes']} bytes")
    print(f"errors      {info['errors']}{f' ({errors})' if errors else ''}")
    return 0


def verify_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.datasets import dataset_info, verify_dataset

    problems = verify_dataset(args.directory)
    for problem in problems:
        print(f"{args.directory}: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s)")
        return EXIT_FAILURE
    info = dataset_info(args.directory)
    print(
        f"ok: {info['shards']} shards, {info['items']} items, {info['tokens']} tokens; "
        "checksums and indexes match"
    )
    return 0
