"""``tzoo bench ...``: the benchmarks (quantizers, kernels, service, memory, video memory,
tokenize, NTP, reconstruction)."""

from __future__ import annotations

import argparse
from typing import Any

from tokenizers_zoo.benchmarks.rfid import FID_WEIGHTS_ENV, FID_WEIGHTS_FILE
from tokenizers_zoo.benchmarks.rfvd import FVD_WEIGHTS_ENV, FVD_WEIGHTS_FILE
from tokenizers_zoo.cli.common import UsageError


def add_commands(sub: Any) -> None:
    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True)
    p = bench.add_parser("quantizers", help="quantizer speed and memory vs vector-quantize-pytorch")
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--out", help="directory for results.json and results.md")
    p.set_defaults(func=quantizers_command)

    p = bench.add_parser("service", help="load the service on loopback: batching, transports, overhead")
    p.add_argument("--tokenizer", help="default: the default discrete image tokenizer, else any image one")
    p.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each load phase (default 10)")
    p.add_argument("--soak-seconds", type=float, default=60.0, help="length of the soak run (0: none)")
    p.add_argument("--torch-threads", type=int, default=0, help="for the server and the in-process baseline")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the compared phases")
    p.add_argument("--out", help="directory for results.json and results.md")
    p.set_defaults(func=service_command)

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
    p.set_defaults(func=kernels_command)

    p = bench.add_parser(
        "ntp", help="the NTP backbone vs nanoGPT's tiny-shakespeare recipe; KV-cache speed-up"
    )
    p.add_argument("--data", default="../shared/data/tinyshakespeare.txt", help="the tiny-shakespeare corpus")
    p.add_argument("--torch-threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("--out", help="directory for results.json and results.md")
    p.set_defaults(func=ntp_command)

    p = bench.add_parser("memory", help="memory one encode and one decode of each tokenizer needs")
    p.add_argument("--tokenizer", help="NAME[,NAME...] (default: every registered one)")
    p.add_argument(
        "--admission-budget-mib",
        type=int,
        default=0,
        help="instead: load a fresh tzoo serve with this --max-memory-mib with --clients concurrent "
        "encodes of --side images, and report statuses and the server's peak RSS rise",
    )
    p.add_argument("--side", type=int, default=512, help="image side for --admission-budget-mib")
    p.add_argument("--clients", type=int, default=64, help="concurrent clients for --admission-budget-mib")
    p.add_argument("--timeout", type=float, default=600.0, help="request timeout for --admission-budget-mib")
    p.add_argument("--out", help="directory for results.json")
    p.set_defaults(func=memory_command)

    p = bench.add_parser(
        "video-memory", help="peak memory of tzoo encode on a long video clip against a short one"
    )
    p.add_argument(
        "--tokenizer",
        help="a causal video tokenizer: name or checkpoint directory (default: the trained "
        "video-fsq-4x8x8-4k if present, else image-fsq-f8-4k inflated, as the output says)",
    )
    p.add_argument(
        "--seconds", type=_lengths, default=(5.0, 60.0), help="clip lengths in seconds (default 5,60)"
    )
    p.add_argument("--size", type=int, default=256, help="frame side in pixels (default 256)")
    p.add_argument("--fps", type=float, default=25.0, help="frames per second (default 25)")
    p.add_argument("--out", help="directory for results.json and stdout.txt")
    p.set_defaults(func=video_memory_command)

    p = bench.add_parser(
        "tokenize", help="tokenize-dataset engines vs in-process batched encode, memory, kill"
    )
    p.add_argument("--tokenizer", default="image-fsq-f8-4k", help="default image-fsq-f8-4k")
    p.add_argument("--data", default="data/images", help="folder of media (default data/images)")
    p.add_argument(
        "--repeat", type=int, default=4, help="measure on this many linked copies of --data (default 4)"
    )
    p.add_argument("--size", type=int, default=256, help="image side (default 256)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=2, help="local engine's decoding processes (default 2)")
    p.add_argument("--ray-cpus", type=int, default=2, help="CPUs of the local Ray cluster (0: skip Ray)")
    p.add_argument("--memory-tokenizer", default="image-patch-p8", help="for the memory check (fast)")
    p.add_argument("--memory-side", type=int, default=64, help="generated image side for the memory check")
    p.add_argument("--memory-small", type=int, default=200, help="images of the small memory run (0: skip)")
    p.add_argument("--memory-large", type=int, default=2000, help="images of the large memory run")
    p.add_argument("--no-kill", dest="kill", action="store_false", help="skip the SIGKILL-and-rerun check")
    p.add_argument("--out", help="directory for results.json")
    p.set_defaults(func=tokenize_command)

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
        "--fvd-weights",
        help=f"video: the FVD I3D TorchScript file {FVD_WEIGHTS_FILE} (StyleGAN-V's port; checked by "
        f"its git blob id; default: ${FVD_WEIGHTS_ENV}; without it rFVD is reported unavailable)",
    )
    p.add_argument(
        "--lpips-weights", help="LPIPS-VGG safetensors file (default: $TZOO_LPIPS_WEIGHTS; else no LPIPS)"
    )
    p.add_argument("--torch-threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("--out", default="recon-results", help="directory for results.json, results.md, PNGs")
    p.set_defaults(func=recon_command)


def quantizers_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.benchmarks.quantizers import run_quantizer_benchmark

    run_quantizer_benchmark(quick=args.quick, out_dir=args.out)
    return 0


def service_command(args: argparse.Namespace) -> int:
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


def kernels_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.benchmarks.kernels import run_kernel_benchmark

    run_kernel_benchmark(
        quick=args.quick,
        out_dir=args.out,
        max_gib=args.max_gib,
        max_run_seconds=args.max_run_seconds,
        budget_minutes=args.budget_minutes,
    )
    return 0


def ntp_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.benchmarks.ntp import run_ntp_benchmark

    run_ntp_benchmark(args.data, args.out, args.torch_threads)
    return 0


def memory_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.benchmarks.memory_costs import run_memory_benchmark

    names = [n.strip() for n in args.tokenizer.split(",") if n.strip()] if args.tokenizer else None
    if args.admission_budget_mib:
        from tokenizers_zoo.benchmarks.memory_costs import admission_check

        name = names[0] if names else "image-fsq-f8-4k"
        result = admission_check(name, args.admission_budget_mib, args.side, args.clients, args.timeout)
        return 0 if set(result["statuses"]) == {200} else 1
    run_memory_benchmark(names, args.out)
    return 0


def _lengths(text: str) -> tuple[float, ...]:
    """``5,60`` -> (5.0, 60.0): two or more positive clip lengths."""
    try:
        lengths = tuple(sorted({float(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of seconds: {text!r}") from None
    if len(lengths) < 2 or lengths[0] <= 0:
        raise argparse.ArgumentTypeError(f"give two or more positive lengths, e.g. 5,60; got {text!r}")
    return lengths


def video_memory_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.benchmarks.video_memory import run_video_memory_benchmark

    if args.size < 8 or not 0 < args.fps <= 1000:
        raise UsageError(
            f"--size must be at least 8 and --fps in (0, 1000], got {args.size} and {args.fps:g}"
        )
    results = run_video_memory_benchmark(args.tokenizer, args.seconds, args.size, args.fps, args.out)
    return 0 if results["target_met"] else 1


def tokenize_command(args: argparse.Namespace) -> int:
    from tokenizers_zoo.benchmarks.tokenize import run

    run(args)
    return 0


def recon_command(args: argparse.Namespace) -> int:
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
        fvd_weights=args.fvd_weights,
        lpips_weights=args.lpips_weights,
        torch_threads=args.torch_threads,
    )
    return 1 if results["skipped"] else 0
