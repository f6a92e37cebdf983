"""``tzoo``: the command line.

Every user mistake ends in one line on stderr and a non-zero exit, never a
traceback (set ``TZOO_DEBUG=1`` to see one for a real bug).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence

from tokenizers_zoo.errors import TokenizersZooError

EXIT_USAGE = 2
EXIT_INTERNAL = 1


def _cmd_list(args: argparse.Namespace) -> int:
    import tokenizers_zoo as tz

    names = tz.list_tokenizers(args.modality, args.kind)
    if args.json:
        print(json.dumps([_entry_summary(name) for name in names], indent=2))
        return 0
    defaults = {
        tz.default_tokenizer(m, k)
        for m in ("image", "video", "audio")
        for k in ("discrete", "continuous")
        if _has_default(m, k)
    }
    for name in names:
        entry = tz.get_entry(name)
        mark = "*" if name in defaults else " "
        print(f"{mark} {name:<24} {entry.modality:<6} {entry.kind:<10} {entry.description}")
    print("(* = default for its modality and kind)")
    return 0


def _has_default(modality: str, kind: str) -> bool:
    import tokenizers_zoo as tz

    try:
        tz.default_tokenizer(modality, kind)
    except tz.UnknownTokenizerError:
        return False
    return True


def _entry_summary(name: str) -> dict:
    import tokenizers_zoo as tz

    entry = tz.get_entry(name)
    return {"name": name, "modality": entry.modality, "kind": entry.kind, "description": entry.description}


def _cmd_info(args: argparse.Namespace) -> int:
    import tokenizers_zoo as tz

    tok = tz.load(args.name, weights=args.weights)
    info = tok.info.to_dict()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:>16}: {value}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from tokenizers_zoo.demo import run_demo

    return run_demo(image_path=args.image)


def _cmd_bench(args: argparse.Namespace) -> int:
    from tokenizers_zoo.benchmarks.quantizers import run_quantizer_benchmark

    run_quantizer_benchmark(quick=args.quick, out_dir=args.out)
    return 0


def _cmd_eval_tokenizer(args: argparse.Namespace) -> int:
    import tokenizers_zoo as tz
    from tokenizers_zoo.training.data import eval_tiles
    from tokenizers_zoo.training.evaluate import evaluate_reconstruction

    tok = tz.load(args.name, weights=args.weights)
    try:
        tiles = eval_tiles(args.data, args.size)
    except (FileNotFoundError, ValueError) as exc:
        raise tz.InvalidMediaError(str(exc)) from exc
    if args.max_tiles:
        tiles = tiles[: args.max_tiles]
    result = evaluate_reconstruction(tok, tiles)
    summary = {"tokenizer": args.name, "data": str(args.data), "tile_size": args.size, **result}
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_train_tokenizer(args: argparse.Namespace) -> int:
    from tokenizers_zoo.training.config import load_config
    from tokenizers_zoo.training.train import train

    cfg = load_config(args.config)
    if args.run_dir:
        cfg.run.dir = args.run_dir
    export = train(cfg, max_steps=args.max_steps, resume=not args.restart, init_from=args.init_from)
    print(f"exported {cfg.name} to {export}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tzoo", description="Media <-> tokens for NTP models.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered tokenizers")
    p.add_argument("--modality", choices=["image", "video", "audio"])
    p.add_argument("--kind", choices=["discrete", "continuous"])
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="describe one tokenizer")
    p.add_argument("name")
    p.add_argument("--weights", help="checkpoint directory or .safetensors file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("demo", help="round-trip media through the shipped default tokenizers")
    p.add_argument("--image", help="an image file to use instead of the built-in test pattern")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("eval-tokenizer", help="PSNR, codebook usage and speed of an image tokenizer")
    p.add_argument("name")
    p.add_argument("--data", default="data/images/eval", help="folder of held-out images")
    p.add_argument("--size", type=int, default=256, help="tile size (every non-overlapping tile is used)")
    p.add_argument("--max-tiles", type=int, default=0, help="use at most this many tiles (0: all)")
    p.add_argument("--weights", help="checkpoint directory or .safetensors file")
    p.set_defaults(func=_cmd_eval_tokenizer)

    p = sub.add_parser("train-tokenizer", help="train a tokenizer from a YAML config (resumes by default)")
    p.add_argument("--config", required=True, help="YAML file, e.g. configs/image-fsq-f8-4k.yaml")
    p.add_argument("--max-steps", type=int, help="stop after this many more steps (for smoke runs)")
    p.add_argument("--run-dir", help="override run.dir of the config")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint in the run dir")
    p.add_argument(
        "--init-from",
        help="without a checkpoint in the run dir, start from this exported tokenizer and its step",
    )
    p.set_defaults(func=_cmd_train_tokenizer)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True)
    p = bench.add_parser("quantizers", help="quantizer speed and memory vs vector-quantize-pytorch")
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--out", help="directory for results.json and results.md")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        code = args.func(args)
    except TokenizersZooError as exc:
        print(f"tzoo: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tzoo: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not the user's fault: say so without a traceback
        if os.environ.get("TZOO_DEBUG"):
            traceback.print_exc()
        print(
            f"tzoo: internal error: {type(exc).__name__}: {exc} "
            "(please report it; TZOO_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    if os.environ.get("TZOO_TIMING"):
        print(f"tzoo: {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
