"""``tzoo bench recon``: reconstruction quality, token cost and speed of tokenizers, side
by side, on a folder of the user's own images, video or audio, measured the same way
every time.

Each tokenizer (and, with ``sweep``, each bitrate of a multi-rate codec) is one *run*
over the same samples. A sample is encoded and decoded one at a time, after one untimed
warm-up round trip on the first sample, so the first call's set-up is not counted;
throughput is therefore batch-1 latency-bound (a batching service does better). Peak
memory is per call, as ``benchmarks/memory.py`` measures it. Results are written after
every run, and on Ctrl-C or an error the partial run is written before the process ends.
A file that cannot be read is skipped by every run and listed (path and reason) in
``results["skipped"]`` and the report; the CLI then exits with status 1.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

import tokenizers_zoo as tz
from tokenizers_zoo.benchmarks.machine import code_commit, cpu_model, package_versions
from tokenizers_zoo.benchmarks.memory import measure, return_freed_memory
from tokenizers_zoo.benchmarks.recon_data import Sample, find_samples, infer_modality, policy, unreadable
from tokenizers_zoo.benchmarks.recon_report import GAPS, comparison_table, write_report
from tokenizers_zoo.benchmarks.recon_scorers import Scorer, make_scorer
from tokenizers_zoo.benchmarks.token_stats import CodebookCounter, item_cost
from tokenizers_zoo.benchmarks.weights_file import sha256_of
from tokenizers_zoo.errors import InvalidMediaError
from tokenizers_zoo.tokenizer import CONFIG_FILE, WEIGHTS_FILE, Tokenizer, check_device
from tokenizers_zoo.tokenizers.audio.multirate import MultiRateAudioTokenizer

PACKAGES = (
    "tokenizers-zoo",
    "torch",
    "torchaudio",
    "torchvision",
    "torchmetrics",
    "torch-fidelity",
    "pesq",
    "pystoi",
    "numpy",
    "pillow",
    "av",
)
#: Samples kept for the figures (reconstruction grid, spectrograms).
PREVIEWS = {"image": 4, "video": 4, "audio": 2}
#: Bits per pixel for images and video, kilobits per second for audio.
RATE_KEYS = {"pixel": "bpp", "second": "kbps"}
#: Per-sample facts that are not metrics: kept in the JSON rows, not averaged.
NOT_AVERAGED = {
    "pixels",
    "bits",
    "encode_s",
    "decode_s",
    "encode_peak_mib",
    "decode_peak_mib",
    "height",
    "width",
    "frames",
    "sample_rate",
}


def bit_rate(bits: float | None, amount: float, unit: str) -> float | None:
    """Bits per pixel, or kbps, of ``bits`` spent on ``amount`` pixels or seconds."""
    if bits is None:
        return None
    return bits / amount if unit == "pixel" else bits / amount / 1000


def load_tokenizers(
    names: list[str] | None, data: str | Path, device: torch.device
) -> tuple[list[tuple[str, Tokenizer]], str]:
    """The tokenizers, loaded, and their one modality. Without names: the default discrete
    tokenizer of the modality the data folder holds. All are loaded before any run, so a
    typo or missing weights in the last one fail at once, not after an hour."""
    if not names:
        names = [tz.default_tokenizer(infer_modality(data), "discrete")]
    loaded = [(name, tz.load(name, device=device)) for name in names]
    modalities = {name: tokenizer.info.modality for name, tokenizer in loaded}
    if len(set(modalities.values())) > 1:
        listed = ", ".join(f"{name} ({modality})" for name, modality in modalities.items())
        raise InvalidMediaError(f"tokenizers of different modalities cannot share one data folder: {listed}")
    return loaded, loaded[0][1].info.modality


def rate_settings(tokenizer: Tokenizer, sweep: bool) -> list[dict[str, Any]]:
    """Encode options of each run: every bandwidth of a multi-rate codec with ``sweep``,
    else the tokenizer's defaults. (No image tokenizer exposes its RVQ depth as an option
    yet; one that does belongs here.)"""
    if sweep and isinstance(tokenizer, MultiRateAudioTokenizer):
        return [{"bandwidth": bandwidth} for bandwidth in tokenizer.bandwidths]
    return [{}]


def run_label(name: str, options: dict[str, Any]) -> str:
    if "bandwidth" in options:
        return f"{name} @ {options['bandwidth']:g} kbps"
    return name


def checkpoint_facts(name: str) -> dict[str, Any]:
    """Which weights a run used: path, training step and a hash prefix of the file, so a
    result says whether it came from an in-training checkpoint."""
    if Path(name).is_dir():
        directory: Path | None = Path(name)
        shown = name
    else:
        entry = tz.get_entry(name)
        path = entry.weights_path()
        directory = path if path is None or path.is_dir() else path.parent
        shown = entry.weights  # as registered: relative to the package, no local paths
    if directory is None or not (directory / WEIGHTS_FILE).is_file():
        return {"weights": None}
    facts: dict[str, Any] = {"weights": shown, "sha256": sha256_of(directory / WEIGHTS_FILE)[:16]}
    config = directory / CONFIG_FILE
    if config.is_file():
        facts["training_step"] = json.loads(config.read_text()).get("training", {}).get("step")
    return facts


def environment(device: torch.device) -> dict[str, Any]:
    info = {
        "device": str(device),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg()[0],
        "code_commit": code_commit(),
        "versions": package_versions(PACKAGES),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def run_recon_benchmark(
    tokenizers: list[str] | None,
    data: str | Path,
    *,
    out_dir: str | Path,
    limit: int = 0,
    size: int = 256,
    crop: str = "center",
    max_frames: int = 16,
    sweep: bool = False,
    device: str = "cpu",
    fid_weights: str | Path | None = None,
    fvd_weights: str | Path | None = None,
    lpips_weights: str | Path | None = None,
    torch_threads: int = 0,
) -> dict[str, Any]:
    """Measure every run, print the comparison table, and write ``results.json``,
    ``results.md`` and the figures to ``out_dir``; returns the results."""
    return_freed_memory()
    if torch_threads:
        torch.set_num_threads(torch_threads)
    torch_device = check_device(device)
    loaded, modality = load_tokenizers(tokenizers, data, torch_device)
    skipped: list[dict[str, str]] = []
    samples = find_samples(data, modality, limit=limit, size=size, crop=crop, skipped=skipped)
    scorer = make_scorer(
        modality,
        torch_device,
        size=size,
        max_frames=max_frames,
        lpips_weights=lpips_weights,
        fid_weights=fid_weights,
        fvd_weights=fvd_weights,
    )
    results: dict[str, Any] = {
        "modality": modality,
        "settings": {
            "tokenizers": [name for name, _ in loaded],
            "data": str(data),
            "samples": len(samples),
            "limit": limit,
            "size": size,
            "crop": crop,
            "max_frames": max_frames if modality == "video" else None,
            "sweep": sweep,
            "device": device,
            "torch_threads": torch_threads,
            "out": str(out_dir),
            "policy": policy(modality, size, crop, max_frames),
        },
        "environment": environment(torch_device),
        "unavailable": scorer.unavailable,
        "skipped": skipped,
        "runs": [],
    }
    previews: dict[str, Any] = {"original": [], "runs": {}}
    out = Path(out_dir)
    try:
        for name, tokenizer in loaded:
            for options in rate_settings(tokenizer, sweep):
                _run(tokenizer, name, options, samples, scorer, results, previews)
                write_report(results, previews, out, figures=False)
    finally:
        write_report(results, previews, out, figures=True)
    print("\n".join(comparison_table(results)))
    print(f"wrote {out / 'results.json'}, {out / 'results.md'} and the figures")
    if skipped:
        files = f"{len(skipped)} unreadable file{'s' if len(skipped) > 1 else ''}"
        print(f"tzoo bench recon: {files} skipped, listed in {out / 'results.md'}", file=sys.stderr)
    return results


def _load(scorer: Scorer, sample: Sample, results: dict[str, Any]) -> Any:
    """The sample's media, or ``None`` when its file cannot be read: then the file is listed
    once in ``results["skipped"]`` and not tried again, so every run measures the same samples."""
    path = str(sample.path)
    if any(entry["path"] == path for entry in results["skipped"]):
        return None
    try:
        return scorer.load(sample)
    except (InvalidMediaError, OSError) as exc:
        results["skipped"].append(unreadable(sample.path, exc))
        tqdm.write(f"skipped {path}: {results['skipped'][-1]['reason']}", file=sys.stderr)
        return None


def _run(
    tokenizer: Tokenizer,
    name: str,
    options: dict[str, Any],
    samples: list[Sample],
    scorer: Scorer,
    results: dict[str, Any],
    previews: dict[str, Any],
) -> None:
    """One run, recorded in ``results`` as it goes, so an interruption keeps what was done."""
    info = tokenizer.info
    options = tokenizer.resolve_options(options)
    label = run_label(tokenizer.name, options)
    record: dict[str, Any] = {
        "label": label,
        "tokenizer": name,
        "options": options,
        "kind": info.kind,
        "checkpoint": checkpoint_facts(name),
        "info": info.to_dict(),
        "status": "running",
        "samples": [],
    }
    results["runs"].append(record)
    counter = CodebookCounter(info) if info.kind == "discrete" else None
    scorer.start_run(tokenizer)
    keep = PREVIEWS[results["modality"]]
    run_previews = previews["runs"].setdefault(label, [])
    try:
        first = next((m for m in (_load(scorer, s, results) for s in samples) if m is not None), None)
        if first is None:
            data = results["settings"]["data"]
            raise InvalidMediaError(f"no readable {results['modality']} file under {data}")
        media_in, kwargs = scorer.encode_input(first, tokenizer)
        tokenizer.decode(tokenizer.encode(media_in, **kwargs, **options))  # warm-up, untimed
        for sample in tqdm(samples, desc=label, unit=scorer.item, file=sys.stderr):
            media = _load(scorer, sample, results)
            if media is None:
                continue
            media_in, kwargs = scorer.encode_input(media, tokenizer)
            with measure(tokenizer.device) as encoding:
                tokens = tokenizer.encode(media_in, **kwargs, **options)
            with measure(tokenizer.device) as decoding:
                decoded = tokenizer.decode(tokens)
            row, preview = scorer.score(media, tokens, decoded)
            cost = item_cost(tokens, info)
            amount = scorer.amount(media)
            record["samples"].append(
                {
                    "sample": sample.name,
                    **row,
                    "tokens": cost["tokens"],
                    "bits": cost["bits"],
                    RATE_KEYS[scorer.unit]: bit_rate(cost["bits"], amount, scorer.unit),
                    "encode_s": encoding.seconds,
                    "decode_s": decoding.seconds,
                    "encode_peak_mib": encoding.peak_extra_mib,
                    "decode_peak_mib": decoding.peak_extra_mib,
                    f"{scorer.unit}s": amount,
                }
            )
            if counter is not None:
                counter.update(tokens.ids)
            index = len(record["samples"]) - 1  # skipped files leave no gap in the previews
            if index < keep:
                if len(previews["original"]) <= index:
                    previews["original"].append(scorer.original_preview(media))
                run_previews.append(preview)
        record["status"] = "complete"
    except BaseException as exc:
        record["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"failed: {exc}"
        raise
    finally:
        record["codebooks"] = counter.summary() if counter is not None else []
        record["summary"] = summarize(record, scorer.unit, scorer.finish_run())
        print(
            f"{label}: {len(record['samples'])}/{len(samples)} {scorer.item}s, {record['status']}", flush=True
        )


def summarize(record: dict[str, Any], unit: str, set_metrics: dict[str, Any]) -> dict[str, Any]:
    """Means of every per-sample metric (over samples that have it), total rate, speed."""
    rows = record["samples"]
    summary: dict[str, Any] = {"samples": len(rows), **set_metrics}
    if not rows:
        return summary
    missing = {}
    for key in rows[0]:
        values = [r[key] for r in rows if isinstance(r.get(key), int | float)]
        if key not in NOT_AVERAGED and values:
            summary[key] = sum(values) / len(values)
            if len(values) < len(rows):
                missing[key] = len(rows) - len(values)
    if missing:
        summary[GAPS] = missing  # e.g. PESQ finding no speech in a recording
    amount = sum(r[f"{unit}s"] for r in rows)
    if rows[0]["bits"] is not None:
        summary[RATE_KEYS[unit]] = bit_rate(sum(r["bits"] for r in rows), amount, unit)
    if unit == "second":
        summary["tokens_per_second"] = sum(r["tokens"] for r in rows) / amount
    encode_s, decode_s = (sum(r[key] for r in rows) for key in ("encode_s", "decode_s"))
    per = "items" if unit == "pixel" else "audio_seconds"
    count = len(rows) if unit == "pixel" else amount
    summary[f"encode_{per}_per_s"] = count / encode_s
    summary[f"decode_{per}_per_s"] = count / decode_s
    summary["peak_extra_mib"] = max(max(r["encode_peak_mib"], r["decode_peak_mib"]) for r in rows)
    if record["kind"] == "discrete":
        books = record["codebooks"]
        summary["usage"] = sum(b["usage"] for b in books) / len(books)
        summary["perplexity"] = sum(b["perplexity"] for b in books) / len(books)
    return summary
