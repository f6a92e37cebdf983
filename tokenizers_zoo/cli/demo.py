"""``tzoo demo``: a round trip through the shipped default tokenizers."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(sub: Any) -> None:
    p = sub.add_parser("demo", help="round-trip media through the shipped default tokenizers")
    p.add_argument("--image", help="an image file to use instead of the built-in test pattern")
    p.set_defaults(func=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.demo import run_demo

    return run_demo(image_path=args.image)
