"""Writing a reconstruction benchmark's results: ``results.json`` (every per-sample
metric, the settings and versions), ``results.md`` (the comparison table) and figures.

JSON has no infinity: a lossless PSNR is written as the string ``"inf"``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tokenizers_zoo.benchmarks.recon_figures import FIGURES, write_figures
from tokenizers_zoo.benchmarks.recon_scorers import SCORERS, Column

GAPS = "samples_without"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def write_report(results: dict[str, Any], previews: dict[str, Any], out: Path, figures: bool) -> None:
    """Write JSON and Markdown for what has run so far; with ``figures`` also the PNGs
    (and remove figures an earlier run left in ``out`` that this one did not draw)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(_finite(results), indent=2, allow_nan=False) + "\n")
    written = write_figures(results, previews, out) if figures else []
    if figures:
        for stale in set(FIGURES) - set(written):
            (out / stale).unlink(missing_ok=True)
    (out / "results.md").write_text(markdown(results, written))


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf (lossless)"
    return fmt.format(value)


def _columns(results: dict[str, Any]) -> list[Column]:
    scorer = SCORERS[results["modality"]]
    audio = scorer.unit == "second"
    item = "s" if audio else scorer.item
    shown = [
        c for c in scorer.columns if any(run["summary"].get(c.key) is not None for run in results["runs"])
    ]
    speed = "x real time" if audio else f"{item}s/s"
    per = "audio_seconds" if audio else "items"
    return [
        Column("kind", "kind", "{}"),
        Column(f"tokens/{item}", "tokens_per_second" if audio else "tokens", "{:.0f}"),
        Column("kbps" if audio else "bpp", "kbps" if audio else "bpp", "{:.3f}"),
        *shown,
        Column("codebook usage", "usage", "{:.1%}"),
        Column("perplexity", "perplexity", "{:.0f}"),
        Column(f"encode {speed}", f"encode_{per}_per_s", "{:.2f}"),
        Column(f"decode {speed}", f"decode_{per}_per_s", "{:.2f}"),
        Column("peak MiB", "peak_extra_mib", "{:.0f}"),
    ]


def comparison_table(results: dict[str, Any]) -> list[str]:
    """The Markdown table: one row per run."""
    columns = _columns(results)
    lines = [
        "| run | " + " | ".join(c.heading for c in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for run in results["runs"]:
        values = {**run["summary"], "kind": run["kind"]}
        status = "" if run["status"] == "complete" else f" ({run['status']})"
        cells = [_cell(values.get(c.key), c.fmt) for c in columns]
        lines.append(f"| {run['label']}{status} | " + " | ".join(cells) + " |")
    return lines


def command(settings: dict[str, Any]) -> str:
    """The ``tzoo`` command line that repeats a run with these settings."""
    names = ",".join(settings["tokenizers"])
    parts = ["tzoo bench recon", f"--tokenizer {names}", f"--data {settings['data']}"]
    flags = [
        ("--limit", settings["limit"], 0),
        ("--size", settings["size"], 256),
        ("--crop", settings["crop"], "center"),
        ("--max-frames", settings["max_frames"], None),
        ("--device", settings["device"], "cpu"),
        ("--torch-threads", settings["torch_threads"], 0),
    ]
    parts += [f"{flag} {value}" for flag, value, default in flags if value != default]
    if settings["sweep"]:
        parts.append("--sweep")
    return " ".join([*parts, f"--out {settings['out']}"])


def markdown(results: dict[str, Any], figures: list[str]) -> str:
    s, env = results["settings"], results["environment"]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
    where = env.get("gpu") or f"{env['cpu']}, {env['cores']} cores, {env['torch_threads']} torch threads"
    lines = [
        f"# Reconstruction of {results['modality']}: {', '.join(s['tokenizers'])}",
        "",
        f"Data: `{s['data']}`, {s['samples']} samples ({s['policy']}"
        + (f"; --limit {s['limit']}, evenly spaced" if s["limit"] else "")
        + ").",
        f"Device: {env['device']} ({where}); load average {env['load_average_at_start']:.1f} at the start.",
        f"Command: `{command(s)}`",
        f"Code: {env['code_commit'] or 'not a git checkout'}; {versions}.",
        "",
        *comparison_table(results),
        "",
    ]
    if results["skipped"]:
        lines += [
            f"Unreadable files skipped: {len(results['skipped'])} (no run measured them; "
            "`tzoo bench recon` exits with status 1).",
            "",
            *(f"- `{entry['path']}`: {entry['reason']}" for entry in results["skipped"]),
            "",
        ]
    if results["unavailable"]:
        lines += ["Not measured:", ""]
        lines += [f"- {metric}: {reason}" for metric, reason in results["unavailable"].items()]
        lines.append("")
    trained = {
        run["tokenizer"]: run["checkpoint"]
        for run in results["runs"]
        if run["checkpoint"].get("training_step") is not None
    }
    if trained:
        steps = [f"`{k}` step {c['training_step']} (weights {c['sha256']})" for k, c in trained.items()]
        lines += [f"Checkpoints (training step recorded in them): {', '.join(steps)}.", ""]
    gaps = [
        f"- {run['label']}: " + ", ".join(f"{key} missing for {n}" for key, n in run["summary"][GAPS].items())
        for run in results["runs"]
        if run["summary"].get(GAPS)
    ]
    if gaps:
        lines += ["Samples without a value (see `results.json` for why):", "", *gaps, ""]
    if any(run["summary"].get("rfid") is not None for run in results["runs"]):
        lines += [
            f"rFID compares the Inception features of {s['samples']} originals and their reconstructions; "
            "with fewer than 2048 images the covariances are rank-deficient and rFID is biased "
            "upwards, so compare rFIDs only over the same images (ImageNet rFID uses 50000).",
            "",
        ]
    if any(run["summary"].get("rfvd") is not None for run in results["runs"]):
        lines += [
            f"rFVD compares the I3D features of {s['samples']} original clips and their "
            "reconstructions; with fewer clips than the 400 feature dimensions the covariances are "
            "rank-deficient, so compare rFVDs only over the same clips (TokenBench's figures "
            "come from its own clips and frame counts).",
            "",
        ]
    if any(run["summary"].get("colour_error") is not None for run in results["runs"]):
        lines += [
            "Colour error: the mean CIEDE2000 (Delta E00; lower is better, about 1 is just "
            "noticeable) between the 16 x 16-pixel block mean colours of an original and its "
            "reconstruction (sRGB, D65), partial blocks at the right and bottom edges left out.",
            "",
        ]
    multi = [run for run in results["runs"] if len(run["codebooks"]) > 1]
    if multi:
        lines += ["Per codebook (usage / perplexity), first to last:", ""]
        for run in multi:
            books = ", ".join(f"{b['usage']:.0%} / {b['perplexity']:.0f}" for b in run["codebooks"])
            lines.append(f"- {run['label']}: {books}")
        lines.append("")
    lines += [
        "Bits count every id at log2(codebook size); usage is the share of a codebook's ids seen "
        "at least once over the run, perplexity exp(entropy) of the ids seen (the table gives "
        "the mean over codebooks). Speed: one item at a time after one untimed warm-up; peak "
        "MiB: the largest rise of peak memory over the memory before an encode or decode "
        "call (resident set on CPU, allocated tensors on CUDA). Every per-sample value is in "
        "`results.json`.",
        "",
    ]
    lines += [f"![{name}]({name})" for name in figures]
    return "\n".join(lines).rstrip() + "\n"
