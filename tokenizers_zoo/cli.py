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


def _cmd_bench_kernels(args: argparse.Namespace) -> int:
    from tokenizers_zoo.benchmarks.kernels import run_kernel_benchmark

    run_kernel_benchmark(
        quick=args.quick,
        out_dir=args.out,
        max_gib=args.max_gib,
        max_run_seconds=args.max_run_seconds,
        budget_minutes=args.budget_minutes,
    )
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

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True)
    p = bench.add_parser("quantizers", help="quantizer speed and memory vs vector-quantize-pytorch")
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--out", help="directory for results.json and results.md")
    p.set_defaults(func=_cmd_bench)
    p = bench.add_parser(
        "kernels", help="nearest-code search vs faiss-cpu, torch.cdist, vector-quantize-pytorch"
    )
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--out", help="directory for results.json, results.md and results.png")
    p.add_argument("--max-gib", type=float, default=6.0, help="skip baselines whose N x K matrices need more")
    p.add_argument(
        "--max-run-seconds", type=float, default=60.0, help="skip runs estimated to take longer than this"
    )
    p.add_argument(
        "--budget-minutes", type=float, default=40.0, help="stop starting configurations after this"
    )
    p.set_defaults(func=_cmd_bench_kernels)
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
