"""The training loop of learned tokenizers (images and audio), readable in one sitting.

    step:  batch -> tokenizer -> reconstruction losses + bottleneck loss (+ adversarial
           after disc_start) -> AdamW -> EMA of the weights
    every checkpoint_every steps: save everything needed to resume exactly, and export
           the EMA weights as a loadable checkpoint (config.json + model.safetensors)
    every eval_every steps: held-out quality of the EMA weights (PSNR and codebook usage
           for images; PESQ, STOI, SI-SNR for audio)

What differs by modality (data, reconstruction losses, critic, evaluation) is the
task's (``tasks.py``): crops and L1/L2/LPIPS with a PatchGAN for images, segments and
mel/STFT losses with a multi-scale STFT critic for audio.

Resuming reloads model, EMA, optimisers, critic and RNG state; batches are a function
of (seed, step), so a resumed run continues exactly as if it had not stopped. SIGINT
or SIGTERM checkpoints the current step before the loop stops; ``run_dir.py`` keeps
the run directory's files whole through crashes, and one trainer per directory.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch

from tokenizers_zoo.tokenizer import WEIGHTS_FILE, Tokenizer, read_checkpoint_config
from tokenizers_zoo.tokenizers import ARCHITECTURES
from tokenizers_zoo.training.config import ConfigError, TrainConfig
from tokenizers_zoo.training.run_dir import locked, recover, replace_dir, truncate_log, write_file, write_text
from tokenizers_zoo.training.tasks import make_task

STATE_FILE = "train_state.pt"


def build_model(cfg: TrainConfig) -> Tokenizer:
    arch = ARCHITECTURES.get(cfg.model["architecture"])
    if arch is None:
        raise ConfigError(
            f"unknown architecture {cfg.model['architecture']!r}; known: {sorted(ARCHITECTURES)}"
        )
    return arch.from_config(dict(cfg.model.get("config", {})), name=cfg.name)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: there bf16 convolutions run ~2x faster than fp32; elsewhere
    they are emulated and slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_for(device: torch.device, mode: str) -> Any:
    if mode not in ("auto", "bf16", "none"):
        raise ConfigError(f"run.autocast must be auto, bf16 or none, got {mode!r}")
    enabled = mode == "bf16" or (mode == "auto" and (device.type == "cuda" or cpu_has_native_bf16()))
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    o = cfg.optim
    if step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    progress = min(1.0, (step - o.warmup_steps) / max(1, o.max_steps - o.warmup_steps))
    return o.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


#: After this many steps of a run, say how long the rest will take.
ESTIMATE_AFTER = 20


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 2:
        return f"{seconds:.0f} s"
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


#: Without a terminal, print the status line at least this often (seconds).
PROGRESS_EVERY_S = 5.0


class Progress:
    """One status line: redrawn in place on a terminal, else printed at each logged step
    and at least every ``PROGRESS_EVERY_S``; what runs between steps (an export, an
    evaluation) is shown as it starts."""

    def __init__(self, first: int, total: int) -> None:
        self.first = first
        self.total = total
        self.tty = sys.stderr.isatty()
        self.start = self.shown = time.time()
        self.step, self.text = first, ""

    def note(self, message: str) -> None:
        """A line of its own (below the status line on a terminal)."""
        print(("\n" if self.tty else "") + message, file=sys.stderr, flush=True)

    def activity(self, message: str) -> None:
        """What the trainer is doing now, until the next update (a terminal's status line)."""
        if self.tty:
            print(f"\r{self._line()} | {message}\x1b[K", end="", file=sys.stderr, flush=True)
        else:
            print(message, file=sys.stderr, flush=True)

    def estimate(self, step: int) -> None:
        """Once, after ``ESTIMATE_AFTER`` steps: how long the remaining ones will take."""
        if step - self.first != ESTIMATE_AFTER or step >= self.total:
            return
        per_step = (time.time() - self.start) / ESTIMATE_AFTER
        self.note(
            f"{ESTIMATE_AFTER} steps took {_duration(per_step * ESTIMATE_AFTER)} ({per_step:.3g} s/step): "
            f"about {_duration(per_step * (self.total - step))} more to step {self.total}, plus evaluations"
        )

    def update(self, step: int, text: str | None = None, force: bool = False) -> None:
        self.step, self.text = step, self.text if text is None else text
        now = time.time()
        if force or now - self.shown >= (0.2 if self.tty else PROGRESS_EVERY_S):
            self.shown = now
            print(
                ("\r" if self.tty else "") + self._line(),
                end="\x1b[K" if self.tty else "\n",
                file=sys.stderr,
                flush=True,
            )

    def _line(self) -> str:
        done = self.step / max(1, self.total)
        bar = "#" * int(30 * done) + "-" * (30 - int(30 * done))
        rate = (self.step - self.first) / max(1e-9, time.time() - self.start)
        left = (
            f", {_duration((self.total - self.step) / rate)} left"
            if rate > 0 and self.step < self.total
            else ""
        )
        return f"[{bar}] {self.step}/{self.total} {self.text} ({rate:.2f} steps/s this run{left})"


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped training; ``exit_code`` is what a shell reports (128 + the signal)."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class _StopOnSignal:
    """While training: the first SIGINT or SIGTERM asks the loop to checkpoint and stop
    after the current step; a second stops at once. A signal the process was started
    ignoring (a background job's SIGINT) stays ignored."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is not None:
            raise TrainingInterrupted(signum, f"stopped at once by a second {signal.Signals(signum).name}")
        self.signum = signum  # no print here: it could land inside one of the loop's prints


def train(
    cfg: TrainConfig,
    steps: int | None = None,
    until: int | None = None,
    resume: bool = True,
    init_from: str | Path | None = None,
    max_steps: int | None = None,
) -> Path | None:
    """Train (or resume) the tokenizer of ``cfg``; returns the exported EMA checkpoint
    directory, or None when there was nothing to train (then nothing is written).

    The run starts from the run dir's checkpoint (unless ``resume`` is false), else from
    ``init_from`` (a checkpoint directory exported by this loop, e.g. a shipped default:
    its weights and recorded step, with fresh optimiser moments; the way to continue a
    run on another machine), else from scratch. It trains ``steps`` more steps, or up to
    global step ``until``, or by default up to the config's ``optim.max_steps`` (which
    also sets where the cosine ends, whatever the stop). ``max_steps`` is the old name
    of ``steps``."""
    if steps is None:
        steps = max_steps
    if steps is not None and until is not None:
        raise ConfigError("pass steps or until, not both")
    if (steps is not None and steps < 0) or (until is not None and until < 0):
        raise ConfigError(f"steps and until must be >= 0, got steps={steps}, until={until}")
    run_dir = Path(cfg.run.dir)
    with locked(run_dir), _StopOnSignal() as stop:  # one trainer per run dir: leftovers are no one's
        for name in recover(run_dir):
            print(f"{run_dir}: cleaned up {name}, left by an interrupted run", file=sys.stderr)
        return _train(cfg, run_dir, steps, until, resume, init_from, stop)


def _train(
    cfg: TrainConfig,
    run_dir: Path,
    steps: int | None,
    until: int | None,
    resume: bool,
    init_from: str | Path | None,
    stop: _StopOnSignal,
) -> Path | None:
    state_path = run_dir / STATE_FILE
    state = None
    if resume and state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        step, origin = int(state["step"]), "checkpoint"
        if init_from is not None:
            print(
                f"ignoring --init-from: {run_dir} has a checkpoint (--restart to use {init_from})",
                file=sys.stderr,
            )
    elif init_from is not None:
        step, origin = _export_step(Path(init_from)), f"init-from {init_from}"
    else:
        step, origin = 0, "scratch"
    end = step + steps if steps is not None else until if until is not None else cfg.optim.max_steps
    if end <= step:
        print(
            f"run is already at step {step} >= {end}; nothing to train. Pass --steps N or --until N",
            file=sys.stderr,
        )
        return None
    print(
        f"starting from step {step} ({origin}), training to step {end}: {_steps(end - step)}",
        file=sys.stderr,
    )

    write_text(run_dir / "config.json", json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    device = pick_device(cfg.run.device)
    random.seed(cfg.run.seed)
    torch.manual_seed(cfg.run.seed)

    model = build_model(cfg)
    if state is None and init_from is None:
        model.init_weights()  # a video tokenizer inflates its image tokenizer here
    model = model.to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas), weight_decay=cfg.optim.weight_decay
    )
    task = make_task(cfg, model, device)
    critic = critic_opt = None
    if cfg.loss.adversarial > 0:
        critic = task.make_critic().to(device).train()
        critic_opt = torch.optim.AdamW(critic.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))
    if state is not None:
        _load_state(state, model, ema, optimizer, critic, critic_opt)
    elif init_from is not None:
        model.load_weights(Path(init_from) / WEIGHTS_FILE)
        ema.load_weights(Path(init_from) / WEIGHTS_FILE)

    autocast = autocast_for(device, cfg.run.autocast)
    progress = Progress(step, end)
    dropped = truncate_log(run_dir / "log.jsonl", step)  # what comes after is trained again
    if dropped:
        print(f"{run_dir}/log.jsonl: dropped {dropped} lines after step {step}", file=sys.stderr)
    log = (run_dir / "log.jsonl").open("a")
    loss_weights = dataclasses.asdict(cfg.loss)
    first = saved = step  # saved: where a resume would start (the checkpoint, init-from export or 0)
    try:
        while step < end and stop.signum is None:
            x = task.batch(step).to(device)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, cfg)
            with autocast:
                recon, bottleneck_loss, metrics = model(x)
                recon = recon.float()
                losses = task.reconstruction_losses(recon, x)
                losses["bottleneck"] = bottleneck_loss.float()
                adversarial_on = critic is not None and step >= cfg.loss.disc_start
                if adversarial_on:
                    losses.update(task.generator_losses(critic, recon, x))
            total = sum(loss_weights[k] * v for k, v in losses.items())
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            optimizer.step()
            if adversarial_on:
                critic_opt.zero_grad(set_to_none=True)
                with autocast:
                    critic_loss = task.critic_loss(critic, recon, x)
                critic_loss.backward()
                critic_opt.step()
            update_ema(ema, model, cfg.run.ema_decay if step >= cfg.optim.warmup_steps else 0.0)
            step += 1
            progress.update(step)
            progress.estimate(step)

            if step % cfg.run.log_every == 0 or step == end:
                quality = task.train_metrics(recon, x)
                record = {"step": step, "lr": lr_at(step - 1, cfg), "loss": total.item(), **quality}
                record.update({k: v.item() for k, v in losses.items()})
                record.update({k: float(v) for k, v in metrics.items() if v.numel() == 1})
                log.write(json.dumps(record) + "\n")
                log.flush()
                shown = ", ".join(f"{k} {v:.2f}" for k, v in quality.items())
                progress.update(step, f"loss {total.item():.4f} {shown}", force=True)
            if stop.signum is not None:
                progress.note(
                    f"{stop.name}: checkpointing step {step}, then stopping ({stop.name} again: at once)"
                )
            if step % cfg.run.checkpoint_every == 0 or step == end or stop.signum is not None:
                progress.activity(f"exporting step {step}...")
                _save_checkpoint(run_dir, cfg, step, model, ema, optimizer, critic, critic_opt)
                saved = step
            if (step % cfg.run.eval_every == 0 or step == end) and stop.signum is None:
                progress.activity(f"evaluating at step {step}...")
                result = task.evaluate(ema)
                log.write(json.dumps({"step": step, "eval": result}) + "\n")
                log.flush()
                progress.note(f"eval @ {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in result.items()))
    except BaseException as exc:
        if step > saved:
            progress.note(f"last checkpoint: step {saved}, {_steps(step - saved)} will be redone")
        if stop.signum is not None and not isinstance(exc, KeyboardInterrupt):
            raise TrainingInterrupted(stop.signum, f"stopped by {stop.name} at step {step}: {exc}") from exc
        raise
    finally:
        log.close()
    if step < end:
        done = "checkpointed" if step > first else "before its first step"
        raise TrainingInterrupted(
            stop.signum, f"stopped by {stop.name} at step {step}, {done}; the same command resumes"
        )
    return run_dir / "export"


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """Move each EMA weight ``1 - decay`` of the way to the model's (decay 0: a copy)."""
    for e, m in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(m, 1 - decay)
    for e, m in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(m)  # EMA codebooks and counters follow the live model


def _save_checkpoint(
    run_dir: Path, cfg: TrainConfig, step: int, model, ema, optimizer, critic, critic_opt
) -> None:  # noqa: ANN001
    """``export/`` (the EMA weights, loadable with ``tz.load``), then ``train_state.pt``
    (all a resume needs), each replaced whole (``run_dir.py``): the state, written last,
    is only ever at or behind the export."""
    state = {
        "step": step,
        "model": model.state_dict(),
        "ema": ema.state_dict(),
        "optimizer": optimizer.state_dict(),
        "critic": critic.state_dict() if critic is not None else None,
        "critic_opt": critic_opt.state_dict() if critic_opt is not None else None,
        "rng": {"torch": torch.get_rng_state(), "python": list(random.getstate()[1])},
    }
    training = {"step": step, "recipe": dataclasses.asdict(cfg)}
    replace_dir(run_dir / "export", lambda tmp: ema.save_pretrained(tmp, training=training))
    write_file(run_dir / STATE_FILE, lambda tmp: torch.save(state, tmp))


def _load_state(state: dict, model, ema, optimizer, critic, critic_opt) -> None:  # noqa: ANN001
    model.load_state_dict(state["model"])
    ema.load_state_dict(state["ema"])
    optimizer.load_state_dict(state["optimizer"])
    if critic is not None and state.get("critic") is not None:
        critic.load_state_dict(state["critic"])
        critic_opt.load_state_dict(state["critic_opt"])
    torch.set_rng_state(state["rng"]["torch"])
    version, _, gauss = random.getstate()
    random.setstate((version, tuple(state["rng"]["python"]), gauss))


def _export_step(directory: Path) -> int:
    """The step an exported checkpoint records (0 for one not made by this loop)."""
    return int(read_checkpoint_config(directory).get("training", {}).get("step", 0))
