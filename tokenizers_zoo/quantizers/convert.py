"""Bring trained vector-quantize-pytorch quantizers over, with the same ids in eval.

Supported: ``VectorQuantize`` (one head), ``ResidualVQ`` (uniform codebook sizes,
greedy search), ``FSQ`` (one codebook) and ``LFQ`` (one codebook, plain or
spherical). Options without an equivalent here (multi-head codebooks, affine
parameters, beam search, implicit neural codebooks, orthogonal rotations, soft
clamping, symmetry-preserving FSQ) raise ``ValueError`` naming the option, rather
than converting into something that gives other ids.

Mappings that differ from the defaults here, applied automatically:
- LFQ: vector-quantize-pytorch puts channel 0 in the most significant bit; the
  converted quantizer uses ``bit_order="msb_first"`` to keep the ids.
- FSQ: its bound uses ``(1 + eps)`` and ``atanh``; the converted quantizer uses
  ``variant="vector-quantize-pytorch"``.
- VectorQuantize: the codebook, EMA cluster sizes and sums are copied; its default
  ``decay`` (0.8) and the other EMA settings are carried over.
"""

from __future__ import annotations

import torch
from torch import nn

from tokenizers_zoo.quantizers.base import Quantizer
from tokenizers_zoo.quantizers.fsq import FSQ
from tokenizers_zoo.quantizers.lfq import BSQ, LFQ
from tokenizers_zoo.quantizers.residual import ResidualVQ
from tokenizers_zoo.quantizers.vq import VectorQuantizer


def _refuse_if(condition: object, option: str, kind: str) -> None:
    if condition:
        raise ValueError(f"cannot convert vector-quantize-pytorch {kind} with {option}: no equivalent here")


def _has_bias(module: nn.Module) -> bool:
    return not isinstance(module, nn.Linear) or module.bias is not None


def _copy_projections(source: nn.Module, target: nn.Module) -> None:
    """Copy their projection weights into ours (which compute in fp32), shape-checked."""
    for name in ("project_in", "project_out"):
        theirs, ours = getattr(source, name), getattr(target, name)
        if isinstance(theirs, nn.Sequential):
            _refuse_if(True, "layernorm_after_project_in", type(source).__name__)
        if isinstance(theirs, nn.Identity) != isinstance(ours, nn.Identity):
            raise ValueError(f"cannot convert {type(source).__name__}: its {name} does not fit")
        with torch.no_grad():
            ours.load_state_dict({k: v.detach().clone() for k, v in theirs.state_dict().items()})


def _convert_vector_quantize(vq: nn.Module) -> VectorQuantizer:
    _refuse_if(vq.heads != 1, f"heads={vq.heads}", "VectorQuantize")
    book = vq._codebook
    _refuse_if(getattr(book, "affine_param", False), "affine_param", "VectorQuantize")
    _refuse_if(getattr(book, "vq_bridge", None) is not None, "vq_bridge", "VectorQuantize")
    embed = book.embed.detach()[0]
    ours = VectorQuantizer(
        vq.dim,
        vq.codebook_size,
        embed.shape[-1],
        use_cosine_sim=vq.use_cosine_sim,
        ema_update=bool(book.ema_update),
        decay=float(book.decay),
        eps=float(book.eps),
        threshold_ema_dead_code=float(book.threshold_ema_dead_code),
        commitment_weight=float(vq.commitment_weight),
        rotation_trick=bool(vq.rotation_trick),
    )
    _copy_projections(vq, ours)
    with torch.no_grad():
        ours.codebook.data.copy_(embed)
        if ours.ema_update:
            ours.cluster_size.copy_(book.cluster_size.detach()[0])
            ours.embed_sum.copy_(book.embed_avg.detach()[0])
        ours.initted.fill_(bool(book.initted))
    return ours


def _convert_residual_vq(rvq: nn.Module) -> ResidualVQ:
    _refuse_if(not rvq.uniform_codebook_size, "per-stage codebook sizes", "ResidualVQ")
    _refuse_if(getattr(rvq, "implicit_neural_codebook", False), "implicit_neural_codebook", "ResidualVQ")
    _refuse_if(getattr(rvq, "eval_beam_size", None), "beam search", "ResidualVQ")
    _refuse_if(getattr(rvq, "diveq", False), "diveq", "ResidualVQ")
    stages = [_convert_vector_quantize(layer) for layer in rvq.layers]
    first = stages[0]
    dim = rvq.project_in.in_features if isinstance(rvq.project_in, nn.Linear) else first.dim
    ours = ResidualVQ(
        dim,
        len(stages),
        first.codebook_size,
        rvq.codebook_dim,
        quantize_dropout=bool(rvq.quantize_dropout),
        quantize_dropout_cutoff_index=int(rvq.quantize_dropout_cutoff_index),
    )
    _copy_projections(rvq, ours)
    ours.layers = nn.ModuleList(stages)
    return ours


def _convert_fsq(fsq: nn.Module) -> FSQ:
    _refuse_if(fsq.num_codebooks != 1, f"num_codebooks={fsq.num_codebooks}", "FSQ")
    _refuse_if(fsq.preserve_symmetry, "preserve_symmetry", "FSQ")
    _refuse_if(getattr(fsq, "orthogonal_rotation", False), "orthogonal_rotation", "FSQ")
    _refuse_if(getattr(fsq, "bound_hard_clamp", False), "bound_hard_clamp", "FSQ")
    _refuse_if(fsq.scale not in (None, 1.0), f"scale={fsq.scale}", "FSQ")
    ours = FSQ(
        fsq._levels.tolist(),
        fsq.dim,
        variant="vector-quantize-pytorch",
        projection_bias=_has_bias(fsq.project_in),
    )
    _copy_projections(fsq, ours)
    return ours


def _convert_lfq(lfq: nn.Module) -> LFQ:
    _refuse_if(lfq.num_codebooks != 1, f"num_codebooks={lfq.num_codebooks}", "LFQ")
    _refuse_if(getattr(lfq, "orthogonal_rotation", False), "orthogonal_rotation", "LFQ")
    _refuse_if(lfq.soft_clamp_input_value is not None, "soft_clamp_input_value", "LFQ")
    _refuse_if(not isinstance(lfq.activation, nn.Identity), "straight_through_activation", "LFQ")
    kind = BSQ if lfq.spherical else LFQ
    dim = lfq.project_in.in_features if isinstance(lfq.project_in, nn.Linear) else lfq.codebook_dim
    _refuse_if(not isinstance(lfq.project_in, nn.Linear | nn.Identity), "cosine_sim_project_in", "LFQ")
    ours = kind(
        dim,
        lfq.codebook_size,
        entropy_loss_weight=float(lfq.entropy_loss_weight),
        diversity_gamma=float(lfq.diversity_gamma),
        commitment_weight=float(lfq.commitment_loss_weight),
        codebook_scale=float(lfq.codebook_scale),
        bit_order="msb_first",
        projection_bias=_has_bias(lfq.project_in),
    )
    _copy_projections(lfq, ours)
    return ours


_CONVERTERS = {
    "VectorQuantize": _convert_vector_quantize,
    "ResidualVQ": _convert_residual_vq,
    "FSQ": _convert_fsq,
    "LFQ": _convert_lfq,
}


def from_vector_quantize_pytorch(module: nn.Module) -> Quantizer:
    """A quantizer of this library that gives ``module``'s ids (and codes) in eval mode.

    The result is in the same training/eval mode and on the same device as ``module``.
    """
    kind = type(module).__name__
    if kind not in _CONVERTERS or not type(module).__module__.startswith("vector_quantize_pytorch"):
        raise TypeError(
            f"expected a vector_quantize_pytorch VectorQuantize, ResidualVQ, FSQ or LFQ, got {kind}"
        )
    ours = _CONVERTERS[kind](module)
    device = next(iter(module.buffers()), torch.empty(0)).device
    return ours.to(device).train(module.training)
