"""The NTP trainer, readable in one sitting (nanoGPT's loop, with exact resume).

    config (YAML) -> batches (a text corpus or a token dataset: ``data.py``) and their
                     vocabulary -> model
    step:  the next batch -> loss (on the ids its mask keeps) -> AdamW (warm-up, cosine to
           min_lr, gradient clipping, accumulation)
    every eval_every steps: held-out loss (and bits per token) on fixed batches
    every checkpoint_every steps (and at the end): weights (safetensors), the vocabulary,
           optimizer, RNG and data position

Batches depend on (seed, position) alone, and the position and the RNG state are saved, so
a run stopped at any checkpoint and resumed logs exactly what the uninterrupted run logs.
A resumed run whose data needs another vocabulary than the checkpoint's (another
tokenizer, other weights, other classes) is refused.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_file, save_file

from tokenizers_zoo.durable import write_file, write_text
from tokenizers_zoo.errors import TokenizersZooError
from tokenizers_zoo.ntp import distributed
from tokenizers_zoo.ntp.data import Batch, Batches, NTPData, open_batches
from tokenizers_zoo.ntp.model import Transformer, TransformerConfig
from tokenizers_zoo.ntp.positions import positions_for
from tokenizers_zoo.ntp.vocabulary import Vocabulary, VocabularyMismatchError
from tokenizers_zoo.training.config import ConfigError, build_section, read_yaml
from tokenizers_zoo.training.run_dir import locked, truncate_log
from tokenizers_zoo.training.train import autocast_for, pick_device, update_ema

STATE_FILE = "train_state.pt"
WEIGHTS_FILE = "model.safetensors"
EMA_FILE = "ema.safetensors"
CONFIG_FILE = "config.json"
VOCABULARY_FILE = "vocabulary.json"


class NTPCheckpointError(TokenizersZooError, ValueError):
    """A directory that does not hold a trained NTP model."""


@dataclass
class NTPOptim:
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    max_steps: int = 2000
    batch_size: int = 12
    accumulate: int = 1
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0


@dataclass
class NTPRun:
    dir: str = "runs/ntp"
    seed: int = 1337
    eval_every: int = 250
    eval_batches: int = 20
    checkpoint_every: int = 500
    threads: int = 0
    device: str = "auto"  # auto (CUDA when there is one), cpu, cuda
    autocast: str = "none"  # bf16, none, auto (bf16 on CUDA and on CPUs with native bf16)
    compile: bool = False  # torch.compile the training step
    ema_decay: float = 0.0  # EMA of the weights (0: none); sampling uses it when present
    parallel: str = "ddp"  # under torchrun: ddp or fsdp (distributed.py)


@dataclass
class NTPTrainConfig:
    name: str = "ntp"
    data: NTPData = field(default_factory=NTPData)
    model: dict[str, Any] = field(default_factory=dict)  # TransformerConfig fields but vocab_size
    optim: NTPOptim = field(default_factory=NTPOptim)
    run: NTPRun = field(default_factory=NTPRun)


def load_ntp_config(path: str | Path, overrides: Sequence[str] = ()) -> NTPTrainConfig:
    """The YAML file with ``section.key=value`` overrides on top (values parsed as YAML)."""
    raw = read_yaml(path)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(f"override {item!r} is not section.key=value")
        section, name = key.split(".", 1)
        raw.setdefault(section, {})[name] = yaml.safe_load(value)
    sections = {"data": NTPData, "optim": NTPOptim, "run": NTPRun}
    for key, cls in sections.items():
        raw[key] = build_section(cls, raw.get(key, {}), f"{path}:{key}")
    cfg = build_section(NTPTrainConfig, raw, str(path))
    try:
        TransformerConfig(vocab_size=1, **cfg.model)  # fails now rather than after the data loads
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}:model: {exc}") from exc
    return cfg


def model_config(model: dict[str, Any], vocab: Vocabulary) -> TransformerConfig:
    """The ``model`` section for ``vocab``: its size and, for continuous media, the latent
    vectors' width (``model.latent`` sets the head: ``heads.LatentConfig``)."""
    fields = dict(model)
    dims = {m.latent_dim for m in vocab.media if m.latent_dim}
    if dims:
        latent = dict(fields.get("latent") or {})
        if latent.get("dim", 0) not in (0, *dims):
            raise ConfigError(f"model.latent.dim {latent['dim']} is not the data's latent width {dims.pop()}")
        fields["latent"] = {**latent, "dim": dims.pop()}
    elif fields.get("latent"):
        raise ConfigError("model.latent is for continuous tokens; the data holds discrete ids")
    return TransformerConfig(vocab_size=vocab.size, **fields)


def lr_at(step: int, o: NTPOptim) -> float:
    """Linear warm-up, then cosine decay from lr to min_lr at max_steps."""
    if step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    progress = min(1.0, (step - o.warmup_steps) / max(1, o.max_steps - o.warmup_steps))
    return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1 + math.cos(math.pi * progress))


class Objective(torch.nn.Module):
    """The loss of one batch as a module's ``forward``: what DDP and FSDP wrap, since they
    synchronize the gradients of what runs through ``forward``. It reads a ``rope="2d"``
    model's positions off the batch's ids."""

    def __init__(self, model: Transformer, vocab: Vocabulary) -> None:
        super().__init__()
        self.model, self.vocab = model, vocab

    def forward(self, batch: Batch) -> torch.Tensor:
        positions = positions_for(self.model.config.rope, self.vocab, batch.inputs)
        return self.model.loss(
            batch.inputs, batch.targets, batch.mask, positions=positions, latents=batch.latents
        )


@torch.no_grad()
def held_out_loss(objective: Objective, batches: list[Batch], autocast: Any) -> float:
    """Mean loss on the same held-out batches at every evaluation."""
    was_training = objective.training
    objective.eval()
    with autocast:
        losses = [float(objective(batch)) for batch in batches]
    objective.train(was_training)
    return sum(losses) / len(losses)


def codes_only(data: Batches, batches: list[Batch]) -> list[Batch]:
    """The held-out batches scored on their media codes alone (none: the data has no such
    distinction), so bits per code compare with the codes' unigram entropy."""
    out = []
    for batch in batches:
        codes = data.code_targets(batch.targets)
        if codes is None:
            return []
        out.append(batch._replace(mask=codes if batch.mask is None else batch.mask & codes))
    return out


def weights_only(model_state: dict[str, torch.Tensor], config: TransformerConfig) -> dict[str, torch.Tensor]:
    """What a weights file holds: every tensor on the CPU, a tied head once (as the embedding)."""
    return {
        k: v.detach().cpu().contiguous()
        for k, v in model_state.items()
        if k != "head.weight" or not config.tie_embeddings
    }


def save_checkpoint(
    run_dir: Path,
    cfg: NTPTrainConfig,
    config: TransformerConfig,
    vocab: Vocabulary,
    labels: list[str],
    weights: dict[str, torch.Tensor],
    ema: dict[str, torch.Tensor] | None,
    resume: dict[str, Any],
) -> None:
    """Weights (and EMA weights), vocabulary and config first, then the resume state, each
    written whole (a kill at any moment leaves the previous checkpoint or this one)."""
    write_file(run_dir / WEIGHTS_FILE, lambda p: save_file(weights_only(weights, config), str(p)))
    if ema is not None:
        write_file(run_dir / EMA_FILE, lambda p: save_file(weights_only(ema, config), str(p)))
    write_text(run_dir / VOCABULARY_FILE, json.dumps(vocab.to_json(), indent=1) + "\n")
    meta = {
        "name": cfg.name,
        "step": resume["step"],
        "model": dataclasses.asdict(config),
        "vocabulary_fingerprint": vocab.fingerprint,
        "format": cfg.data.format if cfg.data.kind == "tokens" else "text",
        "labels": labels,
    }
    write_text(run_dir / CONFIG_FILE, json.dumps(meta, indent=2) + "\n")
    write_file(run_dir / STATE_FILE, lambda p: torch.save(resume, p))


def load_vocabulary(run_dir: Path) -> Vocabulary:
    """A checkpoint's vocabulary, checked against the fingerprint its config recorded."""
    try:
        meta = json.loads((run_dir / CONFIG_FILE).read_text())
        data = json.loads((run_dir / VOCABULARY_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise NTPCheckpointError(f"{run_dir} is not an NTP checkpoint: {exc}") from exc
    return Vocabulary.from_json(data, fingerprint=meta.get("vocabulary_fingerprint") or "none recorded")


def load_model(run_dir: str | Path, ema: bool = True) -> tuple[Transformer, Vocabulary, dict[str, Any]]:
    """A trained model, its vocabulary and its config.json, from a run directory; the EMA
    weights when the run kept them (``ema=False``: the trained weights themselves).
    ``meta["weights"]`` says which file was loaded."""
    run_dir = Path(run_dir)
    try:
        meta = json.loads((run_dir / CONFIG_FILE).read_text())
        model = Transformer(TransformerConfig(**meta["model"]))
        weights = EMA_FILE if ema and (run_dir / EMA_FILE).is_file() else WEIGHTS_FILE
        state = load_file(str(run_dir / weights))
        meta["weights"] = weights
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NTPCheckpointError(f"{run_dir} is not an NTP checkpoint: {exc}") from exc
    vocab = load_vocabulary(run_dir)
    if vocab.size != model.config.vocab_size:
        raise VocabularyMismatchError(
            f"{run_dir}: the vocabulary has {vocab.size} ids, the model {model.config.vocab_size}"
        )
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {"head.weight"}:
        raise NTPCheckpointError(
            f"{run_dir}/{weights} does not match its config: missing {missing}, unexpected {unexpected}"
        )
    return model.eval(), vocab, meta


def train(
    cfg: NTPTrainConfig, resume: bool = True, until: int | None = None, log: Any = print
) -> dict[str, Any]:
    """Train (or continue) the run in ``cfg.run.dir`` up to ``until`` (default: the config's
    max_steps, which also sets the learning-rate schedule, so a run trained in pieces is
    the same run); returns the last held-out figures. One trainer per run directory (the
    tokenizer trainer's lock); under torchrun, one per rank (``distributed.py``), rank 0
    holding the lock and writing."""
    run_dir = Path(cfg.run.dir)
    device = pick_device(cfg.run.device)
    processes = distributed.start(device)
    device = distributed.rank_device(device, processes)
    finished = False
    try:
        with locked(run_dir) if processes.main else contextlib.nullcontext():
            rank_log = log if processes.main else _quiet
            figures = _train(cfg, run_dir, resume, until, rank_log, processes, device)
        finished = True
        return figures
    finally:
        distributed.stop(processes, finished)


def _quiet(line: str) -> None:
    """The log of ranks other than 0."""


def _train(
    cfg: NTPTrainConfig,
    run_dir: Path,
    resume: bool,
    until: int | None,
    log: Any,
    processes: distributed.Processes,
    device: torch.device,
) -> dict[str, Any]:
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    o, r = cfg.optim, cfg.run
    autocast = autocast_for(device, r.autocast)
    if r.ema_decay and distributed.sharded(processes, r.parallel):
        raise ConfigError("run.ema_decay does not go with run.parallel fsdp: the EMA needs the whole weights")
    before, share = processes.share(o.accumulate)
    block = TransformerConfig(vocab_size=1, **cfg.model).block_size
    data = open_batches(cfg.data, block, o.batch_size, o.accumulate, r.seed)
    vocab = data.vocabulary
    torch.manual_seed(r.seed)
    model = Transformer(model_config(cfg.model, vocab))
    ema = copy.deepcopy(model).requires_grad_(False) if r.ema_decay else None
    step, state = 0, None
    log_path = run_dir / "log.jsonl"
    if resume and (run_dir / STATE_FILE).is_file():
        data.check_vocabulary(load_vocabulary(run_dir))
        state = torch.load(run_dir / STATE_FILE, weights_only=True, map_location="cpu")
        saved_layout = state.get("parallel", "ddp")
        if saved_layout != _optimizer_layout(r.parallel, processes):
            if saved_layout == "fsdp":
                advice = "an FSDP run's optimizer state: resume it under torchrun with run.parallel=fsdp"
            else:
                advice = "the optimizer state of a run without FSDP: resume it without run.parallel=fsdp"
            raise ConfigError(f"{run_dir} holds {advice}")
        model.load_state_dict(load_file(str(run_dir / WEIGHTS_FILE)), strict=False)
        if ema is not None:
            saved = run_dir / EMA_FILE
            saved = saved if saved.is_file() else run_dir / WEIGHTS_FILE  # EMA switched on at resume
            ema.load_state_dict(load_file(str(saved)), strict=False)
        rngs = state.get("rng_ranks", [state["rng"]])
        torch.set_rng_state(rngs[processes.rank] if len(rngs) == processes.world else state["rng"])
        data.load_state_dict(state["data"])
        step = state["step"]
        if processes.main:
            truncate_log(log_path, step)
        log(f"resumed {cfg.name} at step {step}")
    elif log_path.exists() and processes.main:
        log_path.unlink()
    model.to(device)
    if ema is not None:
        ema.to(device)
    objective = Objective(model, vocab)
    distributed.shard(objective, processes, r.parallel, device)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=o.lr,
        betas=tuple(o.betas),
        fused=False,
    )
    if state is not None:
        distributed.load_optimizer(model, optimizer, state["optimizer"], r.parallel, processes)
    step_loss = distributed.replicate(objective, processes, r.parallel, device)
    if r.compile:
        step_loss = torch.compile(step_loss)
    tokens_per_step = o.batch_size * o.accumulate * block
    log(
        f"{cfg.name}: {model.num_parameters() / 1e6:.2f}M parameters, vocab {vocab.size}, "
        f"{data.describe()}; steps {step} -> {o.max_steps} on {device}"
        + (f", {processes.world} processes ({r.parallel})" if processes.world > 1 else "")
    )
    held_out = [batch.to(device) for batch in data.held_out(r.eval_batches)]
    held_out_codes = codes_only(data, held_out)
    unigram = data.unigram_bits() if held_out_codes else None
    if unigram is not None:
        log(f"unigram entropy of the training codes: {unigram:.3f} bits/code")
    last: dict[str, Any] = {}
    started, done_at_start = time.perf_counter(), step
    with log_path.open("a") if processes.main else contextlib.nullcontext() as records:
        stop = o.max_steps if until is None else min(until, o.max_steps)
        while step < stop:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, o)
            loss_sum = 0.0
            data.skip(before)  # the micro-batches of the ranks before this one
            for _ in range(share):
                with autocast:
                    loss = step_loss(data.next_batch().to(device)) / share
                loss.backward()
                loss_sum += float(loss.detach()) * share / o.accumulate
            data.skip(o.accumulate - before - share)
            loss_sum = distributed.total(loss_sum, processes, device)
            if o.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if ema is not None:
                update_ema(ema, model, r.ema_decay if step >= o.warmup_steps else 0.0)
            step += 1
            record: dict[str, Any] = {"step": step, "loss": loss_sum, "lr": lr_at(step - 1, o)}
            if step % r.eval_every == 0 or step == o.max_steps:
                val = held_out_loss(objective, held_out, autocast)
                elapsed = time.perf_counter() - started
                record["val_loss"] = val
                if model.config.latent is None:  # a mixed loss with a head's MSE is not in bits
                    record["val_bits_per_token"] = val / math.log(2)
                if ema is not None:
                    record["val_loss_ema"] = held_out_loss(Objective(ema, vocab), held_out, autocast)
                if held_out_codes:
                    best = objective if ema is None else Objective(ema, vocab)
                    record["val_code_bits"] = held_out_loss(best, held_out_codes, autocast) / math.log(2)
                last = {
                    "step": step,
                    "val_loss": val,
                    "ms_per_step": 1000 * elapsed / (step - done_at_start),
                    "tokens_per_s": tokens_per_step * (step - done_at_start) / elapsed,
                }
                bits = f" ({val / math.log(2):.3f} bits/token)" if "val_bits_per_token" in record else ""
                with_ema = f", EMA {record['val_loss_ema']:.4f}" if ema is not None else ""
                if held_out_codes:
                    with_ema += f"; {record['val_code_bits']:.3f} bits/code (unigram {unigram:.3f})"
                log(
                    f"step {step}: train loss {loss_sum:.4f}, held-out loss {val:.4f}{bits}{with_ema}, "
                    f"{last['ms_per_step']:.1f} ms/step, {last['tokens_per_s']:.0f} tokens/s"
                )
            if records is not None:
                records.write(json.dumps(record) + "\n")
                records.flush()
            if step % r.checkpoint_every == 0 or step == stop:
                weights, optimizer_state = distributed.full_state(model, optimizer, r.parallel, processes)
                resume_state = {
                    "step": step,
                    "optimizer": optimizer_state,
                    "parallel": _optimizer_layout(r.parallel, processes),
                    "rng": torch.get_rng_state(),
                    "rng_ranks": distributed.rng_states(processes),
                    "data": data.state_dict(),
                }
                if processes.main:
                    save_checkpoint(
                        run_dir,
                        cfg,
                        model.config,
                        vocab,
                        data.labels,
                        weights,
                        None if ema is None else ema.state_dict(),
                        resume_state,
                    )
    return last


def _optimizer_layout(parallel: str, processes: distributed.Processes) -> str:
    """How the saved optimizer state is keyed: ``fsdp`` (by parameter name, gathered from
    the shards) or ``ddp`` (by index, as one process holds it)."""
    return "fsdp" if distributed.sharded(processes, parallel) else "ddp"
