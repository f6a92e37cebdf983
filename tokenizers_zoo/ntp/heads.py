"""Heads for continuous tokens: what the transformer's state at one position says about the
latent vector that comes next (a continuous tokenizer's, e.g. ``image-kl-f8-c16``'s 16
channels per grid cell).

- ``RegressionHead`` (``mse``): a linear map to the vector, trained with mean squared error.
  One answer per state, so sampling is deterministic, and it draws the mean of what may come.
- ``DiffusionHead`` (``diffusion``, MAR's): a small MLP with adaLN blocks that denoises the
  vector, conditioned on the state, trained at one random step of ``train_steps`` (1000)
  per vector and sampled with ``sample_steps`` (100) ancestral steps spread over them, so it
  draws from the distribution the state predicts rather than its mean. ``schedule`` is the
  noise schedule: ``cosine`` (Nichol and Dhariwal; MAR's) or ``linear`` (DDPM's betas from
  1e-4 to 0.02). It predicts v (Salimans and Ho) where MAR predicts the noise: the cosine
  schedule's last step keeps 2e-9 of the signal's variance, and the vector recovered from
  a noise prediction there multiplies that prediction's error by 2e4; recovered from v it
  never multiplies it by more than 1.

Both heads' ``sample`` take a second set of states, the unconditional stream of
classifier-free guidance: the regression head guides the vectors, ``u + s (c - u)``; the
diffusion head guides its prediction at every step, as MAR guides the noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

HEADS = ("diffusion", "mse")
SCHEDULES = ("cosine", "linear")


@dataclass(frozen=True)
class LatentConfig:
    """A model's continuous tokens: ``dim`` channels a vector (0: the data's), read through
    ``head``. Vectors are multiplied by ``scale`` on the way in (1 / their standard deviation
    suits the diffusion head, whose noise has unit variance) and divided on the way out.
    ``weight`` weighs the head's loss against the cross-entropy of the discrete ids."""

    dim: int = 0
    head: str = "diffusion"
    scale: float = 1.0
    weight: float = 1.0
    width: int = 256
    depth: int = 3
    train_steps: int = 1000
    sample_steps: int = 100
    schedule: str = "cosine"

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"latent.head must be one of {', '.join(HEADS)}, got {self.head!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"latent.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not 1 <= self.sample_steps <= self.train_steps:
            raise ValueError(
                f"latent.sample_steps must be 1 .. train_steps ({self.train_steps}), got {self.sample_steps}"
            )
        if self.dim < 0 or self.scale <= 0 or self.width < 1 or self.depth < 1:
            raise ValueError("latent.dim must be >= 0 and latent.scale, width and depth positive")


def guide(conditional: Tensor, unconditional: Tensor, scale: float) -> Tensor:
    """Classifier-free guidance of any head's output (logits, vectors, noise):
    ``u + scale * (c - u)`` (scale 1: the conditional output)."""
    return unconditional + scale * (conditional - unconditional)


class RegressionHead(nn.Module):
    def __init__(self, d_model: int, config: LatentConfig) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, config.dim)

    def loss(self, state: Tensor, target: Tensor) -> Tensor:
        """Mean squared error of the vectors ``(N, dim)`` the states ``(N, d_model)`` predict."""
        return F.mse_loss(self.proj(state).float(), target.float())

    @torch.no_grad()
    def sample(
        self,
        state: Tensor,
        unconditional: Tensor | None = None,
        cfg_scale: float = 1.0,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The predicted vectors (guided); the temperature and generator have nothing to do."""
        vectors = self.proj(state).float()
        return (
            vectors if unconditional is None else guide(vectors, self.proj(unconditional).float(), cfg_scale)
        )


def noise_levels(schedule: str, steps: int) -> Tensor:
    """``alpha_bar`` of each of ``steps`` diffusion steps: the share of the signal's
    variance left at that step (float64, falling from near 1 to near 0)."""
    if schedule == "linear":
        return torch.cumprod(1 - torch.linspace(1e-4, 0.02, steps, dtype=torch.float64), 0)
    t = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0)


def timestep_features(t: Tensor, width: int) -> Tensor:
    """Sinusoidal features ``(N, width)`` of diffusion steps ``(N,)``."""
    half = width // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


class AdaLNBlock(nn.Module):
    """A residual MLP block whose LayerNorm shift, scale and output gate come from the
    condition (adaLN, as in DiT and MAR's MLP)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 3 * width))
        nn.init.zeros_(self.modulation[1].weight)
        nn.init.zeros_(self.modulation[1].bias)

    def forward(self, x: Tensor, condition: Tensor) -> Tensor:
        shift, scale, gate = self.modulation(condition).chunk(3, dim=-1)
        return x + gate * self.mlp(self.norm(x) * (1 + scale) + shift)


class DiffusionHead(nn.Module):
    def __init__(self, d_model: int, config: LatentConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.x_in = nn.Linear(config.dim, w)
        self.state_in = nn.Linear(d_model, w)
        self.time_in = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.blocks = nn.ModuleList(AdaLNBlock(w) for _ in range(config.depth))
        self.out_norm = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.out = nn.Linear(w, config.dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.register_buffer(
            "alpha_bar", noise_levels(config.schedule, config.train_steps).float(), persistent=False
        )

    def predict_v(self, x: Tensor, t: Tensor, state: Tensor) -> Tensor:
        """v = sqrt(alpha_bar) noise - sqrt(1 - alpha_bar) vector, for the noisy vectors ``x``
        ``(N, dim)`` at steps ``t`` ``(N,)``, given the states."""
        condition = self.state_in(state) + self.time_in(timestep_features(t, self.config.width))
        h = self.x_in(x)
        for block in self.blocks:
            h = block(h, condition)
        return self.out(self.out_norm(h))

    def loss(self, state: Tensor, target: Tensor) -> Tensor:
        """Mean squared error of the predicted v at one random step per vector."""
        t = torch.randint(0, self.config.train_steps, (len(target),), device=target.device)
        noise = torch.randn_like(target, dtype=torch.float32)
        signal, spread = self.alpha_bar[t][:, None].sqrt(), (1 - self.alpha_bar[t][:, None]).sqrt()
        noisy = signal * target.float() + spread * noise
        v = signal * noise - spread * target.float()
        return F.mse_loss(self.predict_v(noisy.type_as(state), t, state).float(), v)

    @torch.no_grad()
    def sample(
        self,
        state: Tensor,
        unconditional: Tensor | None = None,
        cfg_scale: float = 1.0,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Vectors ``(N, dim)`` drawn by ``sample_steps`` ancestral steps spread over the
        training steps (DDPM respaced); ``temperature`` scales the noise of each step (0:
        none, the deterministic path)."""
        cfg = self.config
        steps = torch.linspace(cfg.train_steps - 1, 0, cfg.sample_steps).round().long().tolist()
        shape = (len(state), cfg.dim)
        x = torch.randn(shape, generator=generator).to(state.device)
        both = state if unconditional is None else torch.cat([state, unconditional])
        for i, t in enumerate(steps):
            level = self.alpha_bar[t]
            previous = self.alpha_bar[steps[i + 1]] if i + 1 < len(steps) else level.new_tensor(1.0)
            stream = x if unconditional is None else torch.cat([x, x])
            ts = torch.full((len(both),), t, device=state.device)
            v = self.predict_v(stream.type_as(state), ts, both).float()
            if unconditional is not None:
                v = guide(v[: len(x)], v[len(x) :], cfg_scale)
            x0 = level.sqrt() * x - (1 - level).sqrt() * v
            beta = 1 - level / previous
            mean = (previous.sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - previous) * x) / (1 - level)
            if i + 1 < len(steps) and temperature > 0:
                variance = beta * (1 - previous) / (1 - level)
                z = torch.randn(shape, generator=generator).to(state.device)
                mean = mean + temperature * variance.sqrt() * z
            x = mean
        return x


def make_head(d_model: int, config: LatentConfig) -> RegressionHead | DiffusionHead:
    return RegressionHead(d_model, config) if config.head == "mse" else DiffusionHead(d_model, config)
