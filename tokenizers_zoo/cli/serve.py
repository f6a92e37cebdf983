"""``tzoo serve``: the REST service (flags override ``TZOO_*`` variables)."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the REST service (flags override TZOO_* variables)")
    p.add_argument("--host", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, help="default 8000")
    p.add_argument("--tokenizers", help="comma-separated names, or all-local (default: the shipped defaults)")
    p.add_argument("--device", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--torch-threads", type=int, help="torch intra-op threads (default: one per core)")
    p.add_argument("--weights-dir", help="a directory with one checkpoint directory per tokenizer name")
    p.add_argument(
        "--ntp-checkpoint",
        action="append",
        metavar="DIR",
        help="serve the NTP model train-ntp wrote in DIR at /v1/models/DIRNAME/generate (repeatable)",
    )
    p.add_argument("--max-batch-size", type=int, help="items per model call (default 32)")
    p.add_argument("--max-wait-ms", type=float, help="longest wait for a batch to fill (default 0)")
    p.add_argument("--max-queue", type=int, help="queued requests per tokenizer before 429 (default 256)")
    p.add_argument("--timeout", type=float, help="seconds a request may take (default 30)")
    p.add_argument("--body-timeout", type=float, help="seconds for a request body to arrive (default 30)")
    p.add_argument("--api-key-file", help="require one of the keys in FILE (one per line)")
    p.add_argument("--workers", type=int, help="worker processes (default 1)")
    p.add_argument(
        "--max-memory-mib",
        type=int,
        help="MiB requests in flight may use at once, per worker (default: half the machine's memory)",
    )
    p.set_defaults(func=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.service.server import serve
    from tokenizers_zoo.service.settings import ServiceSettings

    names = tuple(n.strip() for n in args.tokenizers.split(",") if n.strip()) if args.tokenizers else None
    settings = ServiceSettings.from_env(
        host=args.host,
        port=args.port,
        tokenizers=names,
        device=args.device,
        torch_threads=args.torch_threads,
        weights_dir=args.weights_dir,
        ntp_checkpoints=tuple(args.ntp_checkpoint) if args.ntp_checkpoint else None,
        max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
        request_timeout_s=args.timeout,
        body_timeout=args.body_timeout,
        api_key_file=args.api_key_file,
        workers=args.workers,
        max_memory_mib=args.max_memory_mib,
    )
    serve(settings)
    return 0
