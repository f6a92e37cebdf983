"""``tzoo train-ntp`` and ``tzoo sample``: train a next-token-prediction model, and sample it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tokenizers_zoo.errors import InvalidTokensError


def add_commands(sub: Any) -> None:
    p = sub.add_parser("train-ntp", help="train a next-token-prediction model from a YAML config (resumes)")
    p.add_argument("--config", required=True, help="YAML file, e.g. configs/ntp/shakespeare-char.yaml")
    p.add_argument("overrides", nargs="*", help="section.key=value, e.g. optim.max_steps=200 run.dir=runs/x")
    p.add_argument("--restart", action="store_true", help="ignore a checkpoint in the run dir")
    p.set_defaults(func=train_command)

    p = sub.add_parser("sample", help="sample text from a trained NTP model")
    p.add_argument("--checkpoint", required=True, help="the run directory train-ntp wrote")
    p.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    p.add_argument("-n", "--num-samples", type=int, default=1)
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8, help="0: greedy")
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=sample_command)


def train_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.ntp.train import load_ntp_config, train

    cfg = load_ntp_config(args.config, args.overrides)
    last = train(cfg, resume=not args.restart, log=lambda line: print(line, file=sys.stderr))
    print(json.dumps({"run_dir": cfg.run.dir, **last}))
    return 0


def sample_command(args: argparse.Namespace) -> int:
    import torch

    from tokenizers_zoo.ntp.sample import generate
    from tokenizers_zoo.ntp.train import load_model

    model, vocab, _ = load_model(args.checkpoint)
    prompt = torch.from_numpy(vocab.encode(args.prompt))[None].repeat(args.num_samples, 1)
    block = model.config.block_size
    room = block - prompt.shape[1]
    if room < 1:
        raise InvalidTokensError(
            f"the prompt is {prompt.shape[1]} tokens, the model's whole block is {block}"
        )
    if args.max_new_tokens > room:
        print(
            f"tzoo: generating {room} tokens: prompt and output fit in the block of {block}", file=sys.stderr
        )
    generator = torch.Generator().manual_seed(args.seed)
    new = min(args.max_new_tokens, room)
    out = generate(model, prompt, new, args.temperature, args.top_k, args.top_p, generator=generator)
    for row in out:
        print(vocab.decode(row.tolist()))
        print("---")
    return 0
