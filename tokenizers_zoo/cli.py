"""``tzoo``: the command line.

Every user mistake ends in one line on stderr and a non-zero exit, never a
traceback (set ``TZOO_DEBUG=1`` to see one for a real bug).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import select
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tokenizers_zoo.allocator import keep_freed_memory
from tokenizers_zoo.benchmarks.rfid import FID_WEIGHTS_ENV, FID_WEIGHTS_FILE
from tokenizers_zoo.errors import TokenizersZooError

EXIT_USAGE = 2
EXIT_INTERNAL = 1
#: What a shell reports for a process ended by SIGPIPE (128 + 13), as `cat` would be.
EXIT_BROKEN_PIPE = 141


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
    facts = {name: _token_facts(name) for name in names}
    width = max(map(len, facts.values()), default=0)
    for name in names:
        entry = tz.get_entry(name)
        mark = "*" if name in defaults else " "
        columns = f"{mark} {name:<20} {entry.modality:<6} {entry.kind:<10} {facts[name]:<{width}}"
        print(f"{columns} {entry.description}")
    print("(* = default for its modality and kind)")
    return 0


def _token_facts(name: str) -> str:
    """Vocabulary and compression from the tokenizer's own info (built without weights)."""
    import tokenizers_zoo as tz

    try:
        info = tz.load(name, pretrained=False).info
    except tz.TokenizersZooError:
        return "(weights missing)"
    size = _vocabulary(info.vocab_size) if info.vocab_size else f"{info.latent_dim} ch"
    factor = f"f{info.spatial_factor}" if info.modality != "audio" else f"hop {info.temporal_factor}"
    return f"{size}, {factor}"


def _vocabulary(sizes: tuple[int, ...]) -> str:
    """``4375 codes``, ``12 codebooks of 1024``: a residual stack's sizes written out one by
    one ran to 32 columns and read like a grid."""
    if len(sizes) == 1:
        return f"{sizes[0]} codes"
    if len(set(sizes)) == 1:
        return f"{len(sizes)} codebooks of {sizes[0]}"
    return f"codebooks of {'/'.join(map(str, sizes))}"


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

    tok = tz.load(args.name, weights=args.weights)
    if tok.info.modality == "audio":
        summary = _eval_audio_tokenizer(tok, args)
    else:
        from tokenizers_zoo.training.data import eval_tiles
        from tokenizers_zoo.training.evaluate import evaluate_reconstruction

        data = args.data or "data/images/eval"
        try:
            tiles = eval_tiles(data, args.size)
        except (FileNotFoundError, ValueError) as exc:
            raise tz.InvalidMediaError(str(exc)) from exc
        if args.max_items:
            tiles = tiles[: args.max_items]
        result = evaluate_reconstruction(tok, tiles)
        summary = {"tokenizer": args.name, "data": str(data), "tile_size": args.size, **result}
    print(json.dumps(summary, indent=2))
    return 0


def _eval_audio_tokenizer(tok: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Speech quality at every bitrate the tokenizer offers (one rate-distortion row each),
    on whole recordings at 16 kHz (or the tokenizer's rate when it is 8 kHz)."""
    import tokenizers_zoo as tz
    from tokenizers_zoo.tokenizers.multirate import MultiRateAudioTokenizer
    from tokenizers_zoo.training.audio_data import eval_clips
    from tokenizers_zoo.training.evaluate import evaluate_audio

    data = args.data or "data/audio/eval"
    rate = 8000 if tok.info.sample_rate == 8000 else 16000
    try:
        clips = eval_clips(data, rate)
    except (FileNotFoundError, ValueError) as exc:
        raise tz.InvalidMediaError(str(exc)) from exc
    if args.max_items:
        clips = clips[: args.max_items]
    rows = []
    if isinstance(tok, MultiRateAudioTokenizer):
        bandwidths = [args.bandwidth] if args.bandwidth is not None else list(tok.bandwidths)
        for bandwidth in bandwidths:
            print(f"evaluating {tok.name} at {bandwidth:g} kbps on {len(clips)} clips", file=sys.stderr)
            rows.append({"kbps": bandwidth, **evaluate_audio(tok, clips, rate, bandwidth=bandwidth)})
    else:
        rows.append(evaluate_audio(tok, clips, rate))
    return {"tokenizer": tok.name, "data": str(data), "sample_rate": rate, "results": rows}


def _cmd_train_tokenizer(args: argparse.Namespace) -> int:
    from tokenizers_zoo.training.config import load_config
    from tokenizers_zoo.training.train import train

    cfg = load_config(args.config)
    if args.run_dir:
        cfg.run.dir = args.run_dir
    export = train(cfg, max_steps=args.max_steps, resume=not args.restart, init_from=args.init_from)
    print(f"exported {cfg.name} to {export}")
    return 0


def _cmd_bench_service(args: argparse.Namespace) -> int:
    from tokenizers_zoo.benchmarks.service import run_service_benchmark

    report = run_service_benchmark(
        tokenizer=args.tokenizer,
        size=args.size,
        clients=args.clients,
        seconds=args.seconds,
        soak_seconds=args.soak_seconds,
        out_dir=args.out,
        torch_threads=args.torch_threads,
        repeats=args.repeats,
    )
    return 1 if report["failures"] else 0


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


def _cmd_bench_recon(args: argparse.Namespace) -> int:
    from tokenizers_zoo.benchmarks.recon import run_recon_benchmark

    names = [n.strip() for n in args.tokenizer.split(",") if n.strip()] if args.tokenizer else None
    results = run_recon_benchmark(
        names,
        args.data,
        out_dir=args.out,
        limit=args.limit,
        size=args.size,
        crop=args.crop,
        max_frames=args.max_frames,
        sweep=args.sweep,
        device=args.device,
        fid_weights=args.fid_weights,
        lpips_weights=args.lpips_weights,
        torch_threads=args.torch_threads,
    )
    return 1 if results["skipped"] else 0


def _cmd_serve(args: argparse.Namespace) -> int:
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
        max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
        request_timeout_s=args.timeout,
        api_key_file=args.api_key_file,
        workers=args.workers,
    )
    serve(settings)
    return 0


def _read_bytes(path: str) -> bytes:
    from tokenizers_zoo.errors import InvalidMediaError

    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidMediaError(f"cannot read {path}: {exc.strerror}") from exc


def _cmd_encode(args: argparse.Namespace) -> int:
    import tokenizers_zoo as tz
    from tokenizers_zoo.service.convert import to_wire
    from tokenizers_zoo.service.media_types import NO_LIMITS, read_media
    from tokenizers_zoo.service.wire import guess_media_type, save_tokens

    tok = tz.load(args.name, weights=args.weights)
    kind = guess_media_type(args.file)
    # A small compressed file can hold hours of audio: decoding stops at the limit.
    limits = dataclasses.replace(NO_LIMITS, max_audio_seconds=args.max_audio_seconds or math.inf)
    media = read_media(tok.info.modality, kind, _read_bytes(args.file), limits, args.sample_rate)
    tokens = tok.encode(media.array, sample_rate=media.sample_rate)
    written = save_tokens(args.output, to_wire(tokens)[0])
    print(f"{args.file} -> {tokens.kind} tokens {tokens.shape} -> {', '.join(map(str, written))}")
    return 0


def _cmd_decode(args: argparse.Namespace) -> int:
    import tokenizers_zoo as tz
    from tokenizers_zoo.service.convert import from_wire, media_arrays
    from tokenizers_zoo.service.media_types import output_type, render_media
    from tokenizers_zoo.service.wire import load_tokens

    tok = tz.load(args.name, weights=args.weights)
    modality = tok.info.modality
    kind = output_type(modality, args.output)
    tokens = from_wire(load_tokens(args.tokens, tok.name), tok)
    media = media_arrays(modality, tok.decode(tokens))[0]
    Path(args.output).write_bytes(render_media(modality, media, kind, tokens.sample_rate))
    print(f"{args.tokens} -> {kind} {args.output}")
    return 0


def _client_defaults() -> tuple[str, str | None]:
    url = os.environ.get("TZOO_URL") or f"http://127.0.0.1:{os.environ.get('TZOO_PORT', '8000')}"
    return url, os.environ.get("TZOO_API_KEY")


def _cmd_client(args: argparse.Namespace) -> int:
    from tokenizers_zoo.service.client import Client, ServiceError
    from tokenizers_zoo.service.wire import guess_media_type, load_tokens, save_tokens

    api_key = args.api_key
    if args.api_key_file:
        from tokenizers_zoo.service.settings import read_api_keys

        api_key = read_api_keys(args.api_key_file)[0]
    try:
        with Client(args.url, api_key=api_key, timeout=args.timeout) as client:
            if args.client_command == "ready":
                ready = client.ready()
                print("ready" if ready else "not ready")
                return 0 if ready else 1
            if args.client_command == "list":
                print(json.dumps(client.list(), indent=2))
            elif args.client_command == "encode":
                tokens = client.encode(args.name, args.file, sample_rate=args.sample_rate)
                written = save_tokens(args.output, tokens)
                print(f"{args.file} -> {tokens.kind} tokens {tokens.shape} -> {', '.join(map(str, written))}")
            else:
                media_type = guess_media_type(args.output)
                data = client.decode(args.name, load_tokens(args.tokens, args.name), media_type=media_type)
                Path(args.output).write_bytes(data)
                print(f"{args.tokens} -> {args.output}")
    except ServiceError as exc:
        print(f"tzoo: error: the service answered {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # httpx's connection errors are OSErrors too
        print(f"tzoo: error: {args.url}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    return 0


def _encode_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """What local and client ``encode`` share."""
    p.add_argument("name")
    p.add_argument(
        "file", help="image (png, jpeg, webp, gif), audio (wav, flac, ogg, mp3, g722) or .npy array"
    )
    p.add_argument("-o", "--output", required=True, help="OUT.npy (+ OUT.json metadata) or OUT.json")
    p.add_argument("--sample-rate", type=int, help="rate of raw samples in a .npy file")
    return p


def _decode_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """What local and client ``decode`` share."""
    p.add_argument("name")
    p.add_argument("tokens", help="IN.npy (with IN.json beside it, if encode wrote one) or IN.json")
    p.add_argument("-o", "--output", required=True, help="OUT.png / .jpg / .webp / .wav / .npy")
    return p


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

    p = sub.add_parser(
        "eval-tokenizer",
        help="held-out quality and speed: PSNR and codebook usage (images); PESQ, STOI, SI-SNR (audio)",
    )
    p.add_argument("name")
    p.add_argument("--data", help="held-out folder (default: data/images/eval or data/audio/eval)")
    p.add_argument("--size", type=int, default=256, help="image tile size (every non-overlapping tile)")
    p.add_argument(
        "--max-items",
        "--max-tiles",
        type=int,
        default=0,
        help="use at most this many tiles or clips (0: all)",
    )
    p.add_argument("--bandwidth", type=float, help="audio codecs: only this bitrate in kbps (default: each)")
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

    p = _encode_arguments(sub.add_parser("encode", help="encode a media file locally (no server)"))
    p.add_argument("--weights", help="checkpoint directory or .safetensors file")
    p.add_argument(
        "--max-audio-seconds",
        type=float,
        default=3600.0,
        help="refuse longer audio (default 3600; 0: no limit)",
    )
    p.set_defaults(func=_cmd_encode)
    p = _decode_arguments(sub.add_parser("decode", help="decode a tokens file locally (no server)"))
    p.add_argument("--weights", help="checkpoint directory or .safetensors file")
    p.set_defaults(func=_cmd_decode)

    p = sub.add_parser("serve", help="run the REST service (flags override TZOO_* variables)")
    p.add_argument("--host", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, help="default 8000")
    p.add_argument("--tokenizers", help="comma-separated names, or all-local (default: the shipped defaults)")
    p.add_argument("--device", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--torch-threads", type=int, help="torch intra-op threads (default: one per core)")
    p.add_argument("--weights-dir", help="a directory with one checkpoint directory per tokenizer name")
    p.add_argument("--max-batch-size", type=int, help="items per model call (default 32)")
    p.add_argument("--max-wait-ms", type=float, help="longest wait for a batch to fill (default 0)")
    p.add_argument("--max-queue", type=int, help="queued requests per tokenizer before 429 (default 256)")
    p.add_argument("--timeout", type=float, help="seconds a request may take (default 30)")
    p.add_argument("--api-key-file", help="require one of the keys in FILE (one per line)")
    p.add_argument("--workers", type=int, help="worker processes (default 1)")
    p.set_defaults(func=_cmd_serve)

    url, api_key = _client_defaults()
    client = sub.add_parser("client", help="talk to a running service")
    client.add_argument("--url", default=url, help=f"service URL (default {url}; TZOO_URL)")
    client.add_argument("--api-key", default=api_key, help="API key (default: TZOO_API_KEY)")
    client.add_argument("--api-key-file", help="read the API key from FILE's first key")
    client.add_argument("--timeout", type=float, default=60.0)
    client.set_defaults(func=_cmd_client)
    client_sub = client.add_subparsers(dest="client_command", required=True)
    client_sub.add_parser("ready", help="exit 0 when /readyz says ready (a container healthcheck)")
    client_sub.add_parser("list", help="the tokenizers the service serves, as JSON")
    _encode_arguments(client_sub.add_parser("encode", help="encode a media file on the service"))
    _decode_arguments(client_sub.add_parser("decode", help="decode a tokens file on the service"))

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True)
    p = bench.add_parser("quantizers", help="quantizer speed and memory vs vector-quantize-pytorch")
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--out", help="directory for results.json and results.md")
    p.set_defaults(func=_cmd_bench)
    p = bench.add_parser("service", help="load the service on loopback: batching, transports, overhead")
    p.add_argument("--tokenizer", help="default: the default discrete image tokenizer, else any image one")
    p.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each load phase (default 10)")
    p.add_argument("--soak-seconds", type=float, default=60.0, help="length of the soak run (0: none)")
    p.add_argument("--torch-threads", type=int, default=0, help="for the server and the in-process baseline")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the compared phases")
    p.add_argument("--out", help="directory for results.json and results.md")
    p.set_defaults(func=_cmd_bench_service)
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
    p = bench.add_parser(
        "recon", help="reconstruction quality, token cost and speed of tokenizers on a folder of media"
    )
    p.add_argument(
        "--tokenizer",
        help="NAME[,NAME...] of one modality (default: the default discrete tokenizer of the "
        "modality the data folder holds)",
    )
    p.add_argument("--data", required=True, help="folder of images, audio or video (searched recursively)")
    p.add_argument("--limit", type=int, default=0, help="at most N samples, evenly spaced by path (0: all)")
    p.add_argument("--size", type=int, default=256, help="image/frame side in pixels (0: native size)")
    p.add_argument(
        "--crop",
        choices=["center", "tiles"],
        default="center",
        help="center: shorter side to --size then centre crop (ImageNet rFID); tiles: every "
        "--size tile at native resolution",
    )
    p.add_argument("--max-frames", type=int, default=16, help="video: the first N frames of each clip")
    p.add_argument("--sweep", action="store_true", help="one run per bitrate of multi-rate codecs")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument(
        "--fid-weights",
        help=f"the FID Inception weights file {FID_WEIGHTS_FILE} (checked by SHA-256; "
        f"default: ${FID_WEIGHTS_ENV}, then torch's hub cache; without it rFID is reported unavailable)",
    )
    p.add_argument(
        "--lpips-weights", help="LPIPS-VGG safetensors file (default: $TZOO_LPIPS_WEIGHTS; else no LPIPS)"
    )
    p.add_argument("--torch-threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("--out", default="recon-results", help="directory for results.json, results.md, PNGs")
    p.set_defaults(func=_cmd_bench_recon)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
    return EXIT_INTERNAL


def _stdout_closed() -> bool:
    """Whether a broken pipe was stdout's (nobody reads it any more: poll says POLLERR)
    rather than some other pipe or socket's."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no fileno (captured), or no poll
        return False


if __name__ == "__main__":
    sys.exit(main())
