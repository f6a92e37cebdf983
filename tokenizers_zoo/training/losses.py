"""Losses of the tokenizer recipe beyond pixels: a PatchGAN critic and LPIPS.

The adversarial term sharpens textures that L1 blurs; it starts late (``disc_start``)
because a critic trained against an untrained decoder only destabilises it. LPIPS
needs pretrained VGG weights, which cannot be downloaded here: it runs when a weights
file is supplied and is otherwise skipped with a notice.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al.): a logit per overlapping patch rather than per image."""

    def __init__(self, channels: int = 64, layers: int = 3) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(3, channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        width = channels
        for i in range(1, layers + 1):
            out = channels * min(2**i, 8)
            stride = 2 if i < layers else 1
            blocks += [
                nn.Conv2d(width, out, 4, stride, 1, bias=False),
                nn.GroupNorm(8, out),
                nn.LeakyReLU(0.2),
            ]
            width = out
        blocks.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def hinge_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    return 0.5 * (F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean())


def hinge_generator_loss(fake_logits: Tensor) -> Tensor:
    return -fake_logits.mean()


class LPIPS(nn.Module):
    """LPIPS-VGG (Zhang et al. 2018) from one safetensors file holding torchvision's
    ``vgg16().features`` weights under ``features.*`` and the five linear heads under
    ``lin{0..4}.weight`` (shape ``(1, C, 1, 1)``)."""

    _TAPS = (3, 8, 15, 22, 29)  # relu1_2 ... relu5_3
    _WIDTHS = (64, 128, 256, 512, 512)

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        from torchvision.models import vgg16

        self.features = vgg16().features[: self._TAPS[-1] + 1]
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in self._WIDTHS)
        state = load_file(str(weights))
        self.features.load_state_dict(
            {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        )
        for i, lin in enumerate(self.lins):
            lin.weight.data.copy_(state[f"lin{i}.weight"])
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None])
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450])[None, :, None, None])
        self.requires_grad_(False).eval()

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = torch.cat([x, y]).sub(self.shift).div(self.scale)
        total = x.new_zeros(())
        lin = 0
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self._TAPS:
                a, b = F.normalize(h, dim=1, eps=1e-10).chunk(2)
                total = total + self.lins[lin]((a - b).pow(2)).mean()
                lin += 1
        return total


def load_lpips(weights: str | Path | None) -> LPIPS | None:
    """LPIPS when its weights file exists; otherwise ``None`` and a notice saying how to enable it."""
    if weights and Path(weights).is_file():
        return LPIPS(weights)
    where = f" ({weights} not found)" if weights else ""
    print(f"notice: perceptual (LPIPS) loss is off: no LPIPS-VGG weights file given{where}", flush=True)
    return None
