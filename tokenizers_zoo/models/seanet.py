"""SEANet-style 1-D conv encoder/decoder (SoundStream, EnCodec) that can also stream.

Every layer pads on its own, so ``forward`` on a whole signal and ``stream`` on
consecutive chunks compute the same thing. With ``causal=True`` all padding is on the
left: a frame depends only on samples up to its end, and ``stream`` keeps, per layer,
the few samples (or, for transposed convs, the overlapping output tail) that the next
chunk needs. ``stream`` state lives in a dict owned by the caller, so one model can
serve any number of streams at once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

StreamState = dict[int, Tensor]


class StreamingConv1d(nn.Module):
    """Conv1d that pads itself: ``T`` samples in, ``ceil(T / stride)`` frames out."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1, causal: bool = True
    ) -> None:
        super().__init__()
        self.conv = weight_norm(nn.Conv1d(cin, cout, kernel, stride, dilation=dilation))
        self.stride = stride
        self.span = (kernel - 1) * dilation + 1
        self.causal = causal

    def forward(self, x: Tensor) -> Tensor:
        pad = self.span - self.stride
        extra = math.ceil(x.shape[-1] / self.stride) * self.stride - x.shape[-1]
        left = pad if self.causal else pad - pad // 2
        return self.conv(F.pad(x, (left, pad - left + extra)))

    def stream(self, x: Tensor, state: StreamState) -> Tensor:
        if not self.causal:
            raise RuntimeError("only causal models stream")
        held = state.get(id(self))
        if held is None:
            held = x.new_zeros(*x.shape[:-1], self.span - self.stride)
        x = torch.cat([held, x], dim=-1)
        frames = max(0, (x.shape[-1] - self.span) // self.stride + 1)
        state[id(self)] = x[..., frames * self.stride :]
        if frames == 0:
            return x.new_zeros(*x.shape[:-2], self.conv.out_channels, 0)
        return self.conv(x[..., : (frames - 1) * self.stride + self.span])


class StreamingConvTranspose1d(nn.Module):
    """Upsampling by ``stride``: ``F`` frames in, ``F * stride`` samples out."""

    def __init__(self, cin: int, cout: int, stride: int, causal: bool = True) -> None:
        super().__init__()
        self.conv = weight_norm(nn.ConvTranspose1d(cin, cout, 2 * stride, stride))
        self.stride = stride
        self.causal = causal

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        overhang = self.conv.kernel_size[0] - self.stride
        left = 0 if self.causal else overhang // 2
        return y[..., left : y.shape[-1] - (overhang - left)]

    def stream(self, x: Tensor, state: StreamState) -> Tensor:
        """Samples are final once no later frame overlaps them; the overlap is kept
        (without bias, which is added once, on the way out)."""
        if not self.causal:
            raise RuntimeError("only causal models stream")
        if x.shape[-1] == 0:
            return x.new_zeros(*x.shape[:-2], self.conv.out_channels, 0)
        y = F.conv_transpose1d(x, self.conv.weight, None, self.stride)
        tail = state.get(id(self))
        if tail is not None:
            y[..., : tail.shape[-1]] += tail
        done = x.shape[-1] * self.stride
        state[id(self)] = y[..., done:]
        return y[..., :done] + self.conv.bias[:, None]


class ResidualUnit(nn.Module):
    def __init__(self, channels: int, dilation: int, causal: bool) -> None:
        super().__init__()
        hidden = channels // 2
        self.block = nn.Sequential(
            nn.ELU(),
            StreamingConv1d(channels, hidden, 3, dilation=dilation, causal=causal),
            nn.ELU(),
            StreamingConv1d(hidden, channels, 1, causal=causal),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)

    def stream(self, x: Tensor, state: StreamState) -> Tensor:
        return x + stream_sequential(self.block, x, state)


def stream_sequential(layers: nn.Sequential, x: Tensor, state: StreamState) -> Tensor:
    for layer in layers:
        x = layer.stream(x, state) if hasattr(layer, "stream") else layer(x)
    return x


class _LayerStack(nn.Module):
    """``layers`` run in order, offline or streaming; subclasses say which layers."""

    def __init__(
        self,
        dim: int,
        channels: int,
        ratios: tuple[int, ...],
        dilations: tuple[int, ...] = (1, 3),
        causal: bool = True,
    ) -> None:
        super().__init__()
        self.layers = nn.Sequential(*self.build(dim, channels, tuple(ratios), tuple(dilations), causal))

    def build(
        self, dim: int, channels: int, ratios: tuple[int, ...], dilations: tuple[int, ...], causal: bool
    ) -> list[nn.Module]:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)

    def stream(self, x: Tensor, state: StreamState) -> Tensor:
        return stream_sequential(self.layers, x, state)


class SEANetEncoder(_LayerStack):
    """Waveform ``(B, 1, T)`` -> latents ``(B, dim, T / prod(ratios))``; channels double at
    each downsampling, residual units (dilations given) run before it."""

    def build(
        self, dim: int, channels: int, ratios: tuple[int, ...], dilations: tuple[int, ...], causal: bool
    ) -> list[nn.Module]:
        layers: list[nn.Module] = [StreamingConv1d(1, channels, 7, causal=causal)]
        width = channels
        for ratio in ratios:
            layers += [ResidualUnit(width, d, causal) for d in dilations]
            layers += [nn.ELU(), StreamingConv1d(width, 2 * width, 2 * ratio, ratio, causal=causal)]
            width *= 2
        return [*layers, nn.ELU(), StreamingConv1d(width, dim, 3, causal=causal)]


class SEANetDecoder(_LayerStack):
    """The mirror of ``SEANetEncoder``: latents ``(B, dim, F)`` -> waveform ``(B, 1, F * hop)``."""

    def build(
        self, dim: int, channels: int, ratios: tuple[int, ...], dilations: tuple[int, ...], causal: bool
    ) -> list[nn.Module]:
        width = channels * 2 ** len(ratios)
        layers: list[nn.Module] = [StreamingConv1d(dim, width, 7, causal=causal)]
        for ratio in reversed(ratios):
            layers += [nn.ELU(), StreamingConvTranspose1d(width, width // 2, ratio, causal=causal)]
            width //= 2
            layers += [ResidualUnit(width, d, causal) for d in dilations]
        return [*layers, nn.ELU(), StreamingConv1d(width, 1, 7, causal=causal)]
