"""Causal 3-D encoder/decoder pair for video: ``models.autoencoder``'s structure, with
causal convs (``causal_blocks``), time compressed by ``temporal_factor``.

Shapes: ``1 + f * n`` frames encode to ``1 + n`` latent frames and decode back to
``1 + f * n`` (``f = temporal_factor``, 4 by default); frame 0 is encoded from, and
decoded to, itself alone, so an image is a one-frame video.

Time is halved (encoder) or doubled (decoder) at the resampling stages named by
``temporal_stages``: stage ``i`` is the Downsample between levels ``i`` and ``i + 1``
(the Upsample between them in the decoder). The default is the last two stages: the
frames fewer, the cheaper every layer after them. ``()`` gives ``f = 1``, a purely
spatial compression.

Which convs see three frames (``temporal_kernels``):

- ``"compressed"`` (default): the resampling convs that change time, and every conv of
  the levels that run at a reduced frame rate (after the first temporal stage in the
  encoder, before the last one in the decoder); the full-rate levels keep per-frame
  (``kt = 1``) kernels. The full-rate levels hold most of the pixels, and training runs
  on a 2-core CPU: inflated from ``image-fsq-f8-4k`` (17 frames of 128 x 128, 2 threads)
  this encodes 40 and decodes 12 frames/s, against 27 and 9 for ``"all"`` and 49 and 16
  for the image model on the same frames.
- ``"all"``: every 3x3 conv (1x1 skips stay per-frame); with ``temporal_stages=()`` the
  only way to give a pure-spatial model temporal context.

Streaming: ``forward(x, state)`` with a dict ``state`` (empty at the start of a stream)
takes a clip window by window, with results equal, bit for bit on CPU in eval mode, to
one whole-clip pass (training mode folds time into the batch for speed: equal up to
rounding). Encoder windows: the first ``1 + f * a`` frames (``a >= 0``), later ones
``f * b`` (``b >= 1``); decoder windows: the first ``1 + a`` latent frames, later ones
any positive number. ``encode_windows`` / ``decode_windows`` cut a clip held in memory
that way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tokenizers_zoo.models.blocks import group_norm
from tokenizers_zoo.models.causal_blocks import (
    CausalConv3d,
    CausalDownsample,
    CausalResnetBlock,
    CausalState,
    CausalUpsample,
    FrameAttnBlock,
    per_frame,
)

TEMPORAL_KERNELS = ("compressed", "all")


@dataclass(frozen=True)
class TemporalLayout:
    """Where time is resampled and which convs look across frames, per resolution level."""

    levels: int
    stages: tuple[int, ...]
    kernels: str

    def __post_init__(self) -> None:
        if self.kernels not in TEMPORAL_KERNELS:
            raise ValueError(f"temporal_kernels must be one of {TEMPORAL_KERNELS}, got {self.kernels!r}")
        if len(set(self.stages)) != len(self.stages) or not set(self.stages) <= set(range(self.levels - 1)):
            raise ValueError(
                f"temporal_stages must be distinct stages in 0..{self.levels - 2}, got {list(self.stages)}"
            )

    @classmethod
    def build(cls, levels: int, stages: Sequence[int] | None, kernels: str) -> TemporalLayout:
        """``stages=None``: the last two resampling stages (time / 4), or as many as there are."""
        if stages is None:
            stages = range(max(0, levels - 3), levels - 1)
        return cls(levels, tuple(sorted(stages)), kernels)

    @property
    def factor(self) -> int:
        return 2 ** len(self.stages)

    def kernel(self, level: int) -> int:
        """Temporal kernel of the convs at ``level``: 3 where frames are fewer (or everywhere)."""
        reduced_rate = any(stage < level for stage in self.stages)
        return 3 if self.kernels == "all" or reduced_rate else 1

    def stage_kernel(self, stage: int) -> int:
        return 3 if stage in self.stages else self.kernel(stage)


@dataclass(frozen=True)
class _Arch:
    """The 2-D architecture both directions are built from: channels per level (high to
    low resolution), ResnetBlocks per level, mid-block attention, GroupNorm groups."""

    widths: tuple[int, ...]
    blocks: int
    attention: bool
    groups: int


def _middle(width: int, groups: int, attention: bool, temporal_kernel: int) -> nn.ModuleList:
    layers: list[nn.Module] = [CausalResnetBlock(width, width, groups, temporal_kernel)]
    if attention:
        layers.append(FrameAttnBlock(width, groups))
    layers.append(CausalResnetBlock(width, width, groups, temporal_kernel))
    return nn.ModuleList(layers)


def windows(length: int, window: int) -> Iterator[slice]:
    """``[0, 1 + window)``, then ``window`` at a time: the cut ``*_windows`` use."""
    start, stop = 0, 1 + window
    while start < length:
        yield slice(start, min(stop, length))
        start, stop = stop, stop + window


class _CausalConvStack(nn.Module):
    """What the encoder and decoder share: conv_in, a list of blocks, norm, SiLU, conv_out."""

    conv_in: CausalConv3d
    norm_out: nn.GroupNorm
    conv_out: CausalConv3d

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: int,
        channel_mult: Sequence[int],
        num_res_blocks: int,
        mid_attention: bool,
        norm_groups: int,
        temporal_stages: Sequence[int] | None = None,
        temporal_kernels: str = "compressed",
    ) -> None:
        """The arguments of ``autoencoder.Encoder`` / ``Decoder``, then the temporal layout."""
        super().__init__()
        self.layout = TemporalLayout.build(len(channel_mult), temporal_stages, temporal_kernels)
        widths = tuple(channels * m for m in channel_mult)
        self._build(in_channels, out_channels, _Arch(widths, num_res_blocks, mid_attention, norm_groups))

    def _build(self, in_channels: int, out_channels: int, arch: _Arch) -> None:
        raise NotImplementedError  # the encoder and decoder lay their levels out in opposite orders

    @property
    def temporal_factor(self) -> int:
        return self.layout.factor

    @staticmethod
    def _frames(x: Tensor) -> int:
        if x.dim() != 5:
            raise ValueError(f"expected a clip (B, C, T, H, W), got a tensor of shape {tuple(x.shape)}")
        return x.shape[2]

    def _run(self, x: Tensor, blocks: Sequence[nn.Module], state: CausalState | None) -> Tensor:
        h = self.conv_in(x, state)
        for block in blocks:
            h = block(h, state)
        return self.conv_out(F.silu(per_frame(self.norm_out, h, exact=not self.training)), state)

    def _run_windows(self, x: Tensor, window: int) -> Tensor:
        state: CausalState = {}
        return torch.cat([self(x[:, :, cut], state) for cut in windows(x.shape[2], window)], dim=2)


class CausalEncoder3d(_CausalConvStack):
    """``autoencoder.Encoder`` made causal in time: ``(B, C, 1 + f * n, H, W)`` ->
    ``(B, out_channels, 1 + n, H / 2 ** (levels - 1), W / 2 ** (levels - 1))``."""

    def _build(self, in_channels: int, out_channels: int, arch: _Arch) -> None:
        layout, widths, groups, last = self.layout, arch.widths, arch.groups, len(arch.widths) - 1
        self.conv_in = CausalConv3d(in_channels, widths[0], temporal_kernel=layout.kernel(0))
        down: list[nn.Module] = []
        width = widths[0]
        for level, level_width in enumerate(widths):
            for _ in range(arch.blocks):
                down.append(CausalResnetBlock(width, level_width, groups, layout.kernel(level)))
                width = level_width
            if level < last:
                stride = 2 if level in layout.stages else 1
                down.append(CausalDownsample(width, stride, layout.stage_kernel(level)))
        self.down = nn.ModuleList(down)
        self.mid = _middle(width, groups, arch.attention, layout.kernel(last))
        self.norm_out = group_norm(width, groups)
        self.conv_out = CausalConv3d(width, out_channels, temporal_kernel=layout.kernel(last))

    def forward(self, x: Tensor, state: CausalState | None = None) -> Tensor:
        """The whole clip (``state=None``, e.g. for training), or its next window."""
        f, frames = self.temporal_factor, self._frames(x)
        if not state:
            if frames < 1 or (frames - 1) % f:
                what = "a clip" if state is None else "the first window"
                raise ValueError(
                    f"{what} must have 1 + {f} * n frames (1, {1 + f}, {1 + 2 * f}, ...), got {frames}"
                )
        elif frames < 1 or frames % f:
            raise ValueError(f"windows after the first must have a multiple of {f} frames, got {frames}")
        return self._run(x, [*self.down, *self.mid], state)

    def encode_windows(self, x: Tensor, window: int) -> Tensor:
        """``forward(x)`` computed ``window`` frames at a time (the first window one more):
        the same latents (bit for bit on CPU in eval mode), in memory that follows the window.
        ``window`` must be a multiple of ``temporal_factor``."""
        f = self.temporal_factor
        if window < f or window % f:
            raise ValueError(f"window must be a positive multiple of {f} frames, got {window}")
        if (self._frames(x) - 1) % f:
            raise ValueError(f"a clip must have 1 + {f} * n frames, got {x.shape[2]}")
        return self._run_windows(x, window)


class CausalDecoder3d(_CausalConvStack):
    """``autoencoder.Decoder`` made causal in time: ``1 + n`` latent frames -> ``1 + f * n``."""

    def _build(self, in_channels: int, out_channels: int, arch: _Arch) -> None:
        layout, widths, groups, last = self.layout, arch.widths, arch.groups, len(arch.widths) - 1
        width = widths[last]
        self.conv_in = CausalConv3d(in_channels, width, temporal_kernel=layout.kernel(last))
        self.mid = _middle(width, groups, arch.attention, layout.kernel(last))
        up: list[nn.Module] = []
        for level in reversed(range(len(widths))):
            for _ in range(arch.blocks + 1):
                up.append(CausalResnetBlock(width, widths[level], groups, layout.kernel(level)))
                width = widths[level]
            if level > 0:
                stage = level - 1
                up.append(CausalUpsample(width, stage in layout.stages, layout.stage_kernel(stage)))
        self.up = nn.ModuleList(up)
        self.norm_out = group_norm(width, groups)
        self.conv_out = CausalConv3d(width, out_channels, temporal_kernel=layout.kernel(0))

    def forward(self, z: Tensor, state: CausalState | None = None) -> Tensor:
        """The whole latent clip (``state=None``), or its next window of any positive length."""
        if self._frames(z) == 0:
            raise ValueError("a latent window must have at least one frame, got 0")
        return self._run(z, [*self.mid, *self.up], state)

    def decode_windows(self, z: Tensor, window: int) -> Tensor:
        """``forward(z)`` computed ``window`` latent frames at a time (the first window one
        more): the same frames (bit for bit on CPU in eval mode), in memory that follows the window."""
        if window < 1:
            raise ValueError(f"window must be at least 1 latent frame, got {window}")
        return self._run_windows(z, window)
