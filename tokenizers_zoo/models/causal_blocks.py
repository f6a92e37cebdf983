"""Causal 3-D counterparts of the VQGAN blocks in ``blocks.py``, for clips ``(B, C, T, H, W)``.

Only the 3x3 convolutions look across frames, and only backwards: a ``CausalConv3d``
pads time in front with copies of the first frame (``kt - 1`` of them, none behind), so
an output frame depends on input frames up to its own (stride 1) or up to twice its
index (stride 2). Normalisation, attention and the 1x1 skips work on each frame alone,
which keeps every layer causal, makes windowed passes exact, and lets a model inflated
from the 2-D blocks compute on one frame what they compute on an image.

Each block keeps the names and weight shapes of its 2-D twin (only the 3x3 kernels gain
a temporal dimension), so 2-D state dicts map onto 3-D ones key for key.

Streaming: ``forward(x, state)`` takes the next window of a clip; ``state`` (a dict the
caller owns, empty at the start of a stream) keeps, per causal conv, the trailing input
frames that its next outputs still read. Consecutive windows then give the whole-clip
output, bit for bit on CPU in eval mode, with memory that follows the window. Bit for
bit needs every op to compute a frame the same way whatever the number of frames in the
call: in eval mode the per-frame ops run one frame per call (``per_frame``), and the 3x3
convs always go through oneDNN (``conv3d``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tokenizers_zoo.models.blocks import AttnBlock, group_norm

#: What a stream carries from one window to the next: ``id(conv)`` -> the input frames
#: that conv's next outputs read. Start each stream with ``{}``; one dict per model and stream.
CausalState = dict[int, Tensor]

ONEDNN_DTYPES = (torch.float32, torch.bfloat16)


@functools.cache
def onednn_computes(dtype: torch.dtype) -> bool:
    """Whether oneDNN's CPU convolution runs in ``dtype`` on this machine: float32 always,
    bfloat16 only with AVX-512 (bw, vl, dq) or AVX-NE-CONVERT; elsewhere it raises. Cached:
    every conv of every window asks."""
    if dtype == torch.bfloat16:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return dtype in ONEDNN_DTYPES


def conv3d(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, ...], padding: tuple[int, ...]
) -> Tensor:
    """``F.conv3d``, but on CPU through oneDNN where it can. ``F.conv3d`` takes its im2col path
    for small inputs (batch 1 and ``C * T * H <= 20480``), so a short window and a whole
    clip would run different algorithms, and that path's threaded GEMM rounds differently
    as the frame count changes. oneDNN's 3x3 kernels give a frame the same bits whatever
    the frame count (checked over this model's shapes); its 1x1 kernels do not (they block
    the channel sum by the size of the whole call), hence the per-frame 1x1 convs. bfloat16
    on a CPU without oneDNN's bf16 kernels goes to ``F.conv3d``: it runs, without that
    frame-count invariance."""
    if x.device.type == "cpu" and x.dtype in ONEDNN_DTYPES and torch.backends.mkldnn.is_available():
        # autocast does not know this op; do what it does for conv3d
        autocast = torch.is_autocast_enabled("cpu")
        dtype = torch.get_autocast_dtype("cpu") if autocast else x.dtype
        if onednn_computes(dtype):
            if autocast:
                x, weight, bias = x.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype)
            return torch.mkldnn_convolution(x, weight, bias, padding, stride, (1, 1, 1), 1)
    return F.conv3d(x, weight, bias, stride, padding)


def per_frame(fn: Callable[[Tensor], Tensor], x: Tensor, exact: bool) -> Tensor:
    """``fn`` (a 2-D layer) applied to each frame of ``x`` alone.

    ``exact`` (eval mode): one frame per call, so that a frame gets the same bits however
    many frames the call has; CPU kernels choose their blocking, and so their rounding, by
    the size of the call, and this is what lets windows reproduce the whole clip. Else
    (training) time is folded into the batch: one call, the same values up to rounding,
    and a bf16 training step on CPU about 1.5x faster than frame by frame.
    """
    if exact:
        return torch.stack([fn(x[:, :, t]) for t in range(x.shape[2])], dim=2)
    b, c, t, h, w = x.shape
    y = fn(x.transpose(1, 2).reshape(b * t, c, h, w))
    return y.reshape(b, t, *y.shape[1:]).transpose(1, 2)


class CausalConv3d(nn.Conv3d):
    """Conv3d with kernel ``(temporal_kernel, k, k)`` and causal time padding.

    Time is padded in front with ``temporal_kernel - 1`` copies of the first frame (the
    clip's first frame: in a stream, only before the first window), so with stride ``s``
    and ``T = 1 + s * m`` input frames there are ``1 + m`` outputs, the first computed
    from frame 0 alone. Space is zero-padded by ``padding`` on every side (0 when the
    caller pads, as ``CausalDownsample`` does). Meant for 3x3 kernels (see ``conv3d``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        temporal_kernel: int = 3,
        stride: tuple[int, int] = (1, 1),
        padding: int | None = None,
    ) -> None:
        temporal_stride, spatial_stride = stride
        if temporal_stride > temporal_kernel:
            raise ValueError(
                f"a temporal stride of {temporal_stride} with a temporal kernel of {temporal_kernel} "
                "would skip frames"
            )
        spatial_padding = kernel_size // 2 if padding is None else padding
        super().__init__(
            in_channels,
            out_channels,
            (temporal_kernel, kernel_size, kernel_size),
            stride=(temporal_stride, spatial_stride, spatial_stride),
            padding=(0, spatial_padding, spatial_padding),
        )

    def forward(self, x: Tensor, state: CausalState | None = None) -> Tensor:
        if self.kernel_size[0] > 1:
            x = self._causal_pad(x, state)
        return conv3d(x, self.weight, self.bias, self.stride, self.padding)

    def _causal_pad(self, x: Tensor, state: CausalState | None) -> Tensor:
        """``x`` with the frames in front that its first outputs read: copies of frame 0 at
        the start of a clip, else those the previous window left in ``state``."""
        kt, st = self.kernel_size[0], self.stride[0]
        held = None if state is None else state.get(id(self))
        if held is None:
            held = x[:, :, :1].expand(-1, -1, kt - 1, -1, -1)
        x = torch.cat([held, x], dim=2)
        if state is not None:
            consumed = ((x.shape[2] - kt) // st + 1) * st
            state[id(self)] = x[:, :, consumed:].clone()  # a copy: a view would pin the window
        return x


class CausalResnetBlock(nn.Module):
    """``blocks.ResnetBlock`` with causal convs and per-frame GroupNorm."""

    def __init__(self, in_channels: int, out_channels: int, groups: int, temporal_kernel: int) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels, groups)
        self.conv1 = CausalConv3d(in_channels, out_channels, temporal_kernel=temporal_kernel)
        self.norm2 = group_norm(out_channels, groups)
        self.conv2 = CausalConv3d(out_channels, out_channels, temporal_kernel=temporal_kernel)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: Tensor, state: CausalState | None = None) -> Tensor:
        exact = not self.training
        h = self.conv1(F.silu(per_frame(self.norm1, x, exact)), state)
        h = self.conv2(F.silu(per_frame(self.norm2, h, exact)), state)
        return (x if self.skip is None else per_frame(self.skip, x, exact)) + h


class FrameAttnBlock(AttnBlock):
    """``blocks.AttnBlock`` within each frame: positions attend to their own frame only."""

    def forward(self, x: Tensor, state: CausalState | None = None) -> Tensor:
        return per_frame(super().forward, x, exact=not self.training)


class CausalDownsample(nn.Module):
    """``blocks.Downsample`` (stride 2, VQGAN's asymmetric pad) that can also halve time."""

    def __init__(self, channels: int, temporal_stride: int, temporal_kernel: int) -> None:
        super().__init__()
        self.conv = CausalConv3d(
            channels, channels, temporal_kernel=temporal_kernel, stride=(temporal_stride, 2), padding=0
        )

    def forward(self, x: Tensor, state: CausalState | None = None) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)), state)


class CausalUpsample(nn.Module):
    """``blocks.Upsample`` (nearest, then a conv) that can also double time, causally.

    Doubling time repeats every frame twice and drops the clip's very first frame, as
    Cosmos does: ``1 + n`` frames become ``1 + 2n``, frame 0 stays one frame. The conv
    after it must see more than one frame (``temporal_kernel >= 2``), or the two copies
    would stay equal.
    """

    def __init__(self, channels: int, temporal: bool, temporal_kernel: int) -> None:
        super().__init__()
        if temporal and temporal_kernel < 2:
            raise ValueError("doubling time needs a temporal kernel of at least 2 after it")
        self.temporal = temporal
        self.conv = CausalConv3d(channels, channels, temporal_kernel=temporal_kernel)

    def forward(self, x: Tensor, state: CausalState | None = None) -> Tensor:
        first_window = state is None or id(self.conv) not in state
        x = F.interpolate(x, scale_factor=(2.0 if self.temporal else 1.0, 2.0, 2.0), mode="nearest")
        if self.temporal and first_window:
            x = x[:, :, 1:]
        return self.conv(x, state)
