"""``tzoo list`` and ``tzoo info``: what the zoo holds, from the registry's static
descriptions as ``catalog.json`` keeps them (no model is built, no weights are read, and
neither torch nor the tokenizers are imported, so both answer at once)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tokenizers_zoo.catalog import CatalogEntry
from tokenizers_zoo.info import KINDS, MODALITIES, TokenizerInfo


def add_commands(sub: Any) -> None:
    p = sub.add_parser("list", help="list registered tokenizers")
    p.add_argument("--modality", choices=MODALITIES)
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--all",
        action="store_true",
        help="also say, for other libraries' pretrained tokenizers, whether their weights are cached",
    )
    p.set_defaults(func=list_command)

    p = sub.add_parser("info", help="describe one tokenizer")
    p.add_argument("name")
    p.add_argument("--weights", help="checkpoint directory or .safetensors file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=info_command)


def list_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.catalog import read_catalog

    entries = [
        e
        for e in read_catalog()
        if args.modality in (None, e.info.modality) and args.kind in (None, e.info.kind)
    ]
    weights = {entry.name: weights_state(entry) for entry in entries} if args.all else {}
    if args.json:
        rows = [
            {**entry.info.to_dict(), **({"weights": weights[entry.name]} if args.all else {})}
            for entry in entries
        ]
        print(json.dumps(rows, indent=2))
        return 0
    facts = {entry.name: token_facts(entry.info) for entry in entries}
    width = max(map(len, facts.values()), default=0)
    names = max((len(entry.name) for entry in entries), default=0)
    for entry in entries:
        info = entry.info
        mark = "*" if entry.default else " "
        kind = f"{info.modality:<6} {info.kind:<10}"
        columns = f"{mark} {entry.name:<{names}} {kind} {facts[entry.name]:<{width}}"
        state = f" [{weights[entry.name]}]" if weights.get(entry.name) else ""
        print(f"{columns} {info.description}{state}")
    print("(* = default for its modality and kind)")
    return 0


def weights_state(entry: CatalogEntry) -> str | None:
    """For an entry of another library's published weights, whether the Hugging Face cache
    holds its files (huggingface_hub's lookup; without the ``hf`` extra, that it is missing);
    ``None`` for the zoo's own tokenizers, whose weights ship, are given, or are not needed."""
    if entry.source is None:
        return None
    from tokenizers_zoo.errors import MissingExtraError
    from tokenizers_zoo.published import HubSource, cached_directory

    source = HubSource(**{**entry.source, "files": tuple(entry.source["files"])})
    try:
        found = cached_directory(source, entry.name)
    except MissingExtraError:
        return "needs pip install 'tokenizers-zoo[hf]'"
    return "cached" if found is not None else f"not cached: tzoo fetch {entry.name}"


def token_facts(info: TokenizerInfo) -> str:
    """Vocabulary and compression, e.g. ``4375 codes, f8`` or ``12 codebooks of 1024, hop 320``."""
    size = vocabulary(info.vocab_size) if info.vocab_size else f"{info.latent_dim} ch"
    factor = f"f{info.spatial_factor}" if info.modality != "audio" else f"hop {info.temporal_factor}"
    return f"{size}, {factor}"


def vocabulary(sizes: tuple[int, ...]) -> str:
    """``4375 codes``, ``12 codebooks of 1024``: a residual stack's sizes written out one by
    one ran to 32 columns and read like a grid."""
    if len(sizes) == 1:
        return f"{sizes[0]} codes"
    if len(set(sizes)) == 1:
        return f"{len(sizes)} codebooks of {sizes[0]}"
    return f"codebooks of {'/'.join(map(str, sizes))}"


def info_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.catalog import catalog_entry

    if args.weights is None and not Path(args.name).is_dir():
        info = catalog_entry(args.name).info
    else:
        import tokenizers_zoo as tz

        info = tz.load(args.name, weights=args.weights).info
    if args.json:
        print(json.dumps(info.to_dict(), indent=2))
    else:
        for key, value in info.to_dict().items():
            print(f"{key:>16}: {value}")
    return 0
