"""``tzoo client ...``: the same commands against a running service, through the SDK."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from tokenizers_zoo.cli.codec import decode_arguments, encode_arguments, encode_options, item_paths
from tokenizers_zoo.cli.common import EXIT_FAILURE, EXIT_USAGE, output_path


def _defaults() -> tuple[str, str | None]:
    url = os.environ.get("TZOO_URL") or f"http://127.0.0.1:{os.environ.get('TZOO_PORT', '8000')}"
    return url, os.environ.get("TZOO_API_KEY")


def add_commands(sub: Any) -> None:
    url, api_key = _defaults()
    client = sub.add_parser("client", help="talk to a running service")
    client.add_argument("--url", default=url, help=f"service URL (default {url}; TZOO_URL)")
    client.add_argument("--api-key", default=api_key, help="API key (default: TZOO_API_KEY)")
    client.add_argument("--api-key-file", help="read the API key from FILE's first key")
    client.add_argument("--timeout", type=float, default=60.0)
    client.set_defaults(func=client_command)
    client_sub = client.add_subparsers(dest="client_command", required=True)
    client_sub.add_parser("ready", help="exit 0 when /readyz says ready (a container healthcheck)")
    client_sub.add_parser("list", help="the tokenizers the service serves, as JSON")
    encode_arguments(client_sub.add_parser("encode", help="encode a media file on the service"))
    decode_arguments(client_sub.add_parser("decode", help="decode a tokens file on the service"))


def client_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.formats import guess_media_type
    from tokenizers_zoo.service.client import Client, ServiceError, ServiceUnreachableError
    from tokenizers_zoo.wire import load_tokens, save_tokens

    api_key = args.api_key
    if args.api_key_file:
        from tokenizers_zoo.service.settings import read_api_keys

        api_key = read_api_keys(args.api_key_file)[0]
    out = output_path(args.output) if args.client_command in ("encode", "decode") else None
    try:
        with Client(args.url, api_key=api_key, timeout=args.timeout) as client:
            if args.client_command == "ready":
                ready = client.ready()
                print("ready" if ready else "not ready")
                return 0 if ready else 1
            if args.client_command == "list":
                print(json.dumps(client.list(), indent=2))
            elif args.client_command == "encode":
                tokens = client.encode(
                    args.name, args.file, sample_rate=args.sample_rate, **encode_options(args)
                )
                written = save_tokens(out, tokens)
                print(f"{args.file} -> {tokens.kind} tokens {tokens.shape} -> {', '.join(map(str, written))}")
            else:
                tokens = load_tokens(args.tokens, args.name)
                paths = item_paths(out, tokens.shape[0] if tokens.data.ndim else 1)
                for i, path in enumerate(paths):
                    item = tokens if len(paths) == 1 else tokens.item(i)
                    path.write_bytes(client.decode(args.name, item, media_type=guess_media_type(out)))
                print(f"{args.tokens} -> {', '.join(map(str, paths))}")
    except ServiceUnreachableError as exc:
        print(f"tzoo: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except ServiceError as exc:
        print(f"tzoo: error: the service answered {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
