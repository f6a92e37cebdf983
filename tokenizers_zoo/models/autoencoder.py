"""The convolutional encoder/decoder pair shared by every learned image tokenizer.

Downsampling factor is ``2 ** (len(channel_mult) - 1)``; widths are
``channels * channel_mult[i]`` per level, ``num_res_blocks`` blocks per level
(``+ 1`` in the decoder, as in VQGAN), optional attention in the middle block.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from tokenizers_zoo.models.blocks import AttnBlock, Downsample, ResnetBlock, Upsample, group_norm


def _middle(width: int, groups: int, attention: bool) -> nn.Sequential:
    layers: list[nn.Module] = [ResnetBlock(width, width, groups)]
    if attention:
        layers.append(AttnBlock(width, groups))
    layers.append(ResnetBlock(width, width, groups))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: int,
        channel_mult: Sequence[int],
        num_res_blocks: int,
        mid_attention: bool,
        norm_groups: int,
    ) -> None:
        super().__init__()
        widths = [channels * m for m in channel_mult]
        self.conv_in = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        blocks: list[nn.Module] = []
        width = widths[0]
        for level, level_width in enumerate(widths):
            for _ in range(num_res_blocks):
                blocks.append(ResnetBlock(width, level_width, norm_groups))
                width = level_width
            if level < len(widths) - 1:
                blocks.append(Downsample(width))
        self.down = nn.Sequential(*blocks)
        self.mid = _middle(width, norm_groups, mid_attention)
        self.norm_out = group_norm(width, norm_groups)
        self.conv_out = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.mid(self.down(self.conv_in(x)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: int,
        channel_mult: Sequence[int],
        num_res_blocks: int,
        mid_attention: bool,
        norm_groups: int,
    ) -> None:
        super().__init__()
        widths = [channels * m for m in channel_mult]
        width = widths[-1]
        self.conv_in = nn.Conv2d(in_channels, width, 3, padding=1)
        self.mid = _middle(width, norm_groups, mid_attention)
        blocks: list[nn.Module] = []
        for level in reversed(range(len(widths))):
            for _ in range(num_res_blocks + 1):
                blocks.append(ResnetBlock(width, widths[level], norm_groups))
                width = widths[level]
            if level > 0:
                blocks.append(Upsample(width))
        self.up = nn.Sequential(*blocks)
        self.norm_out = group_norm(width, norm_groups)
        self.conv_out = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.up(self.mid(self.conv_in(z)))
        return self.conv_out(F.silu(self.norm_out(h)))
