"""Causal 3-D encoders/decoders initialised from trained 2-D ones (Open-MAGVIT2's inflation).

Every 2-D kernel goes into the last temporal slice of its 3-D kernel, the one that
reads the current frame, and the earlier slices are zero; everything else (norms,
attention, biases, 1x1 skips) is copied. Per-frame layers then compute what the image
model computes, and a temporal downsampling conv, inflated the same way, passes the
newest frame of each pair through. So before any video training latent ``j`` is the
image model's latent of frame ``4j`` (frame 0 included: an image tokenizes as the image
model tokenizes it), and latent ``j`` decodes to the image model's decoding of it,
repeated over frames ``4j - 3 .. 4j``; equal up to float rounding (1e-5 in the tests:
the 3-D convs sum in another order). Video training then learns the earlier slices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import torch
from torch import nn

from tokenizers_zoo.models.autoencoder import Decoder, Encoder
from tokenizers_zoo.models.blocks import AttnBlock, ResnetBlock
from tokenizers_zoo.models.causal3d import CausalDecoder3d, CausalEncoder3d

Module = TypeVar("Module", bound=nn.Module)


def inflate_encoder(
    encoder: Encoder, *, temporal_stages: Sequence[int] | None = None, temporal_kernels: str = "compressed"
) -> CausalEncoder3d:
    """The causal 3-D encoder with ``encoder``'s architecture and inflated weights, on its
    device and in its dtype; the temporal options are ``CausalEncoder3d``'s."""
    model = CausalEncoder3d(
        **_architecture(encoder), temporal_stages=temporal_stages, temporal_kernels=temporal_kernels
    )
    return inflate_weights(model, encoder)


def inflate_decoder(
    decoder: Decoder, *, temporal_stages: Sequence[int] | None = None, temporal_kernels: str = "compressed"
) -> CausalDecoder3d:
    """The causal 3-D decoder with ``decoder``'s architecture and inflated weights."""
    model = CausalDecoder3d(
        **_architecture(decoder), temporal_stages=temporal_stages, temporal_kernels=temporal_kernels
    )
    return inflate_weights(model, decoder)


def inflate_weights(target: Module, source: nn.Module) -> Module:
    """Load ``source``'s 2-D weights into the 3-D ``target`` (same keys; a 3-D kernel gets
    the 2-D one in its last temporal slice, zeros before it), moved to ``source``'s device
    and dtype. Raises ValueError naming the first key or shape that does not match."""
    weights = source.state_dict()
    inflated = {}
    for key, slot in target.state_dict().items():
        if key not in weights:
            raise ValueError(f"the 2-D model has no {key!r}: the architectures differ")
        weight = weights[key]
        if slot.shape == weight.shape:
            inflated[key] = weight
        elif slot.dim() == weight.dim() + 1 and slot.shape[:2] + slot.shape[3:] == weight.shape:
            kernel = torch.zeros(slot.shape, dtype=weight.dtype, device=weight.device)
            kernel[:, :, -1] = weight
            inflated[key] = kernel
        else:
            raise ValueError(f"{key!r}: cannot inflate shape {tuple(weight.shape)} into {tuple(slot.shape)}")
    extra = sorted(set(weights) - set(inflated))
    if extra:
        raise ValueError(f"the 3-D model has no {extra[0]!r}: the architectures differ")
    parameter = next(source.parameters())
    target.to(device=parameter.device, dtype=parameter.dtype)
    target.load_state_dict(inflated)
    return target


def _architecture(model: Encoder | Decoder) -> dict[str, Any]:
    """The constructor arguments that rebuild ``model``, read from its layers (the 2-D
    classes keep no config): widths per level, blocks per level, attention, norm groups."""
    decoder = isinstance(model, Decoder)
    levels: list[list[ResnetBlock]] = [[]]
    for block in model.up if decoder else model.down:
        if isinstance(block, ResnetBlock):
            levels[-1].append(block)
        else:  # a Downsample or Upsample ends the level
            levels.append([])
    widths = [level[-1].conv2.out_channels for level in levels]
    if decoder:
        widths.reverse()
    channels = math.gcd(*widths)
    # group_norm() takes the largest divisor <= norm_groups of each width, so the largest
    # group count in the model, asked for again, gives every norm its groups back.
    groups = max(m.num_groups for m in model.modules() if isinstance(m, nn.GroupNorm))
    return dict(
        in_channels=model.conv_in.in_channels,
        out_channels=model.conv_out.out_channels,
        channels=channels,
        channel_mult=tuple(w // channels for w in widths),
        num_res_blocks=len(levels[0]) - int(decoder),
        mid_attention=any(isinstance(m, AttnBlock) for m in model.mid),
        norm_groups=groups,
    )
