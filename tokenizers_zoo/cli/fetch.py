"""``tzoo fetch NAME``: download the published weights an adapter entry needs into the
Hugging Face cache, on a machine that is online. The one command that downloads: loading
never does, and finds the files there afterwards."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(sub: Any) -> None:
    p = sub.add_parser("fetch", help="download an adapter entry's pinned weights into the Hugging Face cache")
    p.add_argument("name", help="a registry entry that wraps another library's weights, e.g. audio-dac-24khz")
    p.set_defaults(func=fetch_command)


def fetch_command(args: argparse.Namespace) -> int:
    import tokenizers_zoo as tz
    from tokenizers_zoo.tokenizers.adapters.hub import fetch
    from tokenizers_zoo.tokenizers.adapters.pretrained import entry_source

    source = entry_source(tz.get_entry(args.name))
    directory = fetch(source, args.name)
    print(f"{args.name}: {source.describe()} ({source.licence}) is in {directory}")
    return 0
