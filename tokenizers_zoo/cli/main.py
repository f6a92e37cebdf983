"""Parsing, dispatch, and what a failing command prints and returns."""

from __future__ import annotations

import argparse
import os
import select
import sys
import time
import traceback
from collections.abc import Sequence

from tokenizers_zoo.allocator import keep_freed_memory
from tokenizers_zoo.cli import bench, catalog, client, codec, datasets, demo, fetch, ntp, serve, training
from tokenizers_zoo.cli.common import EXIT_BROKEN_PIPE, EXIT_FAILURE, EXIT_USAGE
from tokenizers_zoo.errors import TokenizersZooError

#: Command groups, in the order ``tzoo --help`` lists them.
GROUPS = (catalog, fetch, demo, training, datasets, ntp, codec, serve, client, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tzoo", description="Media <-> tokens for NTP models.")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    keep_freed_memory()  # a CLI process wants speed more than to hand memory back early
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except TokenizersZooError as exc:
        print(f"tzoo: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tzoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError as exc:
        if not _stdout_closed():
            return _internal_error(exc)
        # Whoever read our output stopped (`tzoo list | head`): end quietly, as cat does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:
        return _internal_error(exc)
    if os.environ.get("TZOO_TIMING"):
        print(f"tzoo: {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return code


def _internal_error(exc: BaseException) -> int:
    """A bug, not the user's fault: say so without a traceback."""
    if os.environ.get("TZOO_DEBUG"):
        traceback.print_exception(exc)
    print(
        f"tzoo: internal error: {type(exc).__name__}: {exc} "
        "(please report it; TZOO_DEBUG=1 shows the traceback)",
        file=sys.stderr,
    )
    return EXIT_FAILURE


def _stdout_closed() -> bool:
    """Whether a broken pipe was stdout's (nobody reads it any more: poll says POLLERR)
    rather than some other pipe or socket's."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no fileno (captured), or no poll
        return False
