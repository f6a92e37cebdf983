"""``tzoo train-tokenizer`` and ``tzoo eval-tokenizer``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "eval-tokenizer",
        help="held-out quality and speed: PSNR, colour error (CIEDE2000) and codebook usage "
        "(images); per-frame PSNR and temporal-difference error (video); PESQ, STOI, SI-SNR (audio)",
    )
    p.add_argument("name")
    p.add_argument(
        "--data",
        help="held-out folder (default: data/images/eval, data/video/eval/rendered or data/audio/eval)",
    )
    p.add_argument(
        "--size",
        type=int,
        help="image tile size (every non-overlapping tile; default 256), or video centre crop (default 128)",
    )
    p.add_argument(
        "--frames", type=int, default=17, help="video: the first N frames of each clip (default 17)"
    )
    p.add_argument(
        "--max-items",
        "--max-tiles",
        type=int,
        default=0,
        help="use at most this many tiles or clips (0: all)",
    )
    p.add_argument("--bandwidth", type=float, help="audio codecs: only this bitrate in kbps (default: each)")
    p.add_argument("--weights", help="checkpoint directory or .safetensors file")
    p.set_defaults(func=eval_command)

    p = sub.add_parser("train-tokenizer", help="train a tokenizer from a YAML config (resumes by default)")
    p.add_argument("--config", required=True, help="YAML file, e.g. configs/image-fsq-f8-4k.yaml")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--steps", type=int, help="train N more steps from where the run starts")
    stop.add_argument("--until", type=int, help="train until global step N (default: the config's max_steps)")
    stop.add_argument("--max-steps", type=int, help="deprecated: the old name of --steps")
    p.add_argument("--run-dir", help="override run.dir of the config")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint in the run dir")
    p.add_argument(
        "--init-from",
        help="without a checkpoint in the run dir, start from this exported tokenizer and its step",
    )
    p.set_defaults(func=train_command)


def eval_command(args: argparse.Namespace) -> int:
    import tokenizers_zoo as tz
    from tokenizers_zoo.training.evaluate import evaluate_tokenizer

    tok = tz.load(args.name, weights=args.weights)
    summary = evaluate_tokenizer(tok, args.data, args.size, args.max_items, args.bandwidth, args.frames)
    print(json.dumps(summary, indent=2))
    return 0


def train_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.training.config import load_config
    from tokenizers_zoo.training.train import TrainingInterrupted, train

    cfg = load_config(args.config)
    if args.run_dir:
        cfg.run.dir = args.run_dir
    steps = args.steps
    if args.max_steps is not None:
        print("tzoo: --max-steps is deprecated; it now means --steps (N more steps)", file=sys.stderr)
        steps = args.max_steps
    try:
        export = train(cfg, steps=steps, until=args.until, resume=not args.restart, init_from=args.init_from)
    except TrainingInterrupted as exc:
        print(f"tzoo: {exc}", file=sys.stderr)
        return exc.exit_code
    if export is not None:
        print(f"exported {cfg.name} to {export}")
    return 0
