"""What differs between training an image tokenizer, a video tokenizer and an audio codec,
behind one interface.

The loop in ``train.py`` asks a task for a batch, for the reconstruction losses, for a
critic and its two adversarial losses, and for an evaluation; everything else (optimiser,
EMA, checkpoints, logs) is shared.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tokenizers_zoo.metrics import psnr, si_snr
from tokenizers_zoo.tokenizer import Tokenizer
from tokenizers_zoo.training.audio_data import RandomSegments, eval_clips
from tokenizers_zoo.training.audio_losses import (
    MultiResolutionSTFTLoss,
    MultiScaleMelLoss,
    MultiScaleSTFTDiscriminator,
    feature_matching_loss,
)
from tokenizers_zoo.training.config import TrainConfig
from tokenizers_zoo.training.data import RandomCrops, eval_tiles
from tokenizers_zoo.training.evaluate import evaluate_audio, evaluate_reconstruction, evaluate_video
from tokenizers_zoo.training.losses import (
    PatchDiscriminator,
    hinge_discriminator_loss,
    hinge_generator_loss,
    load_lpips,
)
from tokenizers_zoo.training.video_data import RandomClips
from tokenizers_zoo.training.video_data import eval_clips as eval_video_clips


class ImageTask:
    """Random crops; L1 (+ L2, LPIPS); PatchGAN hinge critic; PSNR and colour error on
    held-out tiles."""

    def __init__(self, cfg: TrainConfig, model: Tokenizer, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device
        self.data = RandomCrops(cfg.data.train, cfg.data.crop, seed=cfg.run.seed)
        self.tiles = eval_tiles(cfg.data.eval, cfg.data.eval_size)[: cfg.data.eval_max_tiles]
        lpips = load_lpips(cfg.loss.lpips_weights) if cfg.loss.perceptual > 0 else None
        self.lpips = lpips.to(device) if lpips is not None else None

    def batch(self, step: int) -> Tensor:
        return self.data.batch(step, self.cfg.data.batch_size)

    def reconstruction_losses(self, recon: Tensor, x: Tensor) -> dict[str, Tensor]:
        losses = {"l1": F.l1_loss(recon, x)}
        if self.cfg.loss.l2:
            losses["l2"] = F.mse_loss(recon, x)
        if self.lpips is not None:
            losses["perceptual"] = self.lpips(recon, x)
        return losses

    def make_critic(self) -> nn.Module:
        return PatchDiscriminator()

    def generator_losses(self, critic: nn.Module, recon: Tensor, x: Tensor) -> dict[str, Tensor]:
        return {"adversarial": hinge_generator_loss(critic(recon))}

    def critic_loss(self, critic: nn.Module, recon: Tensor, x: Tensor) -> Tensor:
        return hinge_discriminator_loss(critic(x), critic(recon.detach()))

    def train_metrics(self, recon: Tensor, x: Tensor) -> dict[str, float]:
        return {"train_psnr": float(psnr(recon.detach(), x, data_range=2.0).clamp(max=99.0).mean())}

    def evaluate(self, model: Tokenizer) -> dict[str, float]:
        return evaluate_reconstruction(model, self.tiles, device=self.device)


class AudioTask:
    """Random segments; multi-scale mel + multi-resolution STFT (+ waveform L1); a
    multi-scale STFT critic with feature matching; SI-SNR, mel distance, STOI and PESQ
    on held-out recordings."""

    def __init__(self, cfg: TrainConfig, model: Tokenizer, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device
        rate = model.info.sample_rate
        segment = round(cfg.data.segment_seconds * rate)
        self.data = RandomSegments(cfg.data.train, segment, rate, seed=cfg.run.seed)
        self.clips = eval_clips(cfg.data.eval, rate, cfg.data.eval_max_clips)
        self.mel = MultiScaleMelLoss(rate).to(device)
        self.stft = MultiResolutionSTFTLoss().to(device)

    def batch(self, step: int) -> Tensor:
        return self.data.batch(step, self.cfg.data.batch_size)

    def reconstruction_losses(self, recon: Tensor, x: Tensor) -> dict[str, Tensor]:
        losses = {"l1": F.l1_loss(recon, x)}
        if self.cfg.loss.mel:
            losses["mel"] = self.mel(recon, x)
        if self.cfg.loss.stft:
            losses["stft"] = self.stft(recon, x)
        return losses

    def make_critic(self) -> nn.Module:
        return MultiScaleSTFTDiscriminator()

    def generator_losses(self, critic: nn.Module, recon: Tensor, x: Tensor) -> dict[str, Tensor]:
        fake, real = critic(recon), critic(x)
        adversarial = torch.stack([hinge_generator_loss(logits) for logits, _ in fake]).mean()
        matching = feature_matching_loss([f for _, f in fake], [f for _, f in real])
        return {"adversarial": adversarial, "feature_matching": matching}

    def critic_loss(self, critic: nn.Module, recon: Tensor, x: Tensor) -> Tensor:
        pairs = zip(critic(x), critic(recon.detach()), strict=True)
        return torch.stack([hinge_discriminator_loss(real, fake) for (real, _), (fake, _) in pairs]).mean()

    def train_metrics(self, recon: Tensor, x: Tensor) -> dict[str, float]:
        return {"train_si_snr": float(si_snr(recon.detach(), x).mean())}

    def evaluate(self, model: Tokenizer) -> dict[str, float]:
        return evaluate_audio(model, self.clips)


class VideoTask(ImageTask):
    """Random windows of ``data.frames`` frames (held-out clips: ``data.eval_frames``);
    the image losses on every frame plus the temporal-difference loss (L1 between
    frame-to-frame differences, weighted by ``loss.temporal``: flicker and lost motion,
    which per-frame losses do not see); the PatchGAN critic on every frame; per-frame PSNR
    and the temporal-difference error on held-out clips."""

    def __init__(self, cfg: TrainConfig, model: Tokenizer, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device
        self.data = RandomClips(cfg.data.train, cfg.data.frames, cfg.data.crop, seed=cfg.run.seed)
        clips = eval_video_clips(cfg.data.eval, cfg.data.eval_frames, cfg.data.eval_size)
        self.clips = clips[: cfg.data.eval_max_clips]
        lpips = load_lpips(cfg.loss.lpips_weights) if cfg.loss.perceptual > 0 else None
        self.lpips = lpips.to(device) if lpips is not None else None

    @staticmethod
    def frames(x: Tensor) -> Tensor:
        """``(B, 3, T, H, W)`` -> ``(B * T, 3, H, W)``, for the per-frame losses and critic."""
        return x.transpose(1, 2).flatten(0, 1)

    def reconstruction_losses(self, recon: Tensor, x: Tensor) -> dict[str, Tensor]:
        losses = super().reconstruction_losses(self.frames(recon), self.frames(x))
        if self.cfg.loss.temporal:
            losses["temporal"] = F.l1_loss(recon.diff(dim=2), x.diff(dim=2))
        return losses

    def generator_losses(self, critic: nn.Module, recon: Tensor, x: Tensor) -> dict[str, Tensor]:
        return super().generator_losses(critic, self.frames(recon), self.frames(x))

    def critic_loss(self, critic: nn.Module, recon: Tensor, x: Tensor) -> Tensor:
        return super().critic_loss(critic, self.frames(recon), self.frames(x))

    def train_metrics(self, recon: Tensor, x: Tensor) -> dict[str, float]:
        return super().train_metrics(self.frames(recon), self.frames(x))

    def evaluate(self, model: Tokenizer) -> dict[str, float]:
        return evaluate_video(model, self.clips, device=self.device)


def make_task(cfg: TrainConfig, model: Tokenizer, device: torch.device) -> Any:
    tasks = {"image": ImageTask, "audio": AudioTask, "video": VideoTask}
    return tasks[model.info.modality](cfg, model, device)
