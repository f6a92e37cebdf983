"""The entropy penalty of implicit-codebook quantizers (LFQ, BSQ, FSQ).

An implicit codebook has no code vectors to restart, so the only way to keep it used
is to make the encoder spread its outputs: reward a high entropy of the
batch-averaged code distribution and a low entropy per sample (confident
assignments). MAGVIT-v2 does this for LFQ's bits; the same two terms apply to FSQ,
whose channels each choose among their own levels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def _entropy(probs: Tensor) -> Tensor:
    return -(probs * torch.log(probs.clamp_min(1e-12))).sum(-1)


def _joint_distribution(channels: Sequence[Tensor]) -> Tensor:
    """``(N, L_1) ... (N, L_k) -> (N, L_1 * ... * L_k)`` for independent channels."""
    joint = channels[0].new_ones(channels[0].shape[0], 1)
    for probs in channels:
        joint = (joint[:, :, None] * probs[:, None, :]).flatten(1)
    return joint


def factorised_entropy_terms(channels: Sequence[Tensor], max_group_codes: int) -> tuple[Tensor, Tensor]:
    """Mean per-sample entropy and codebook entropy of codes whose channels are independent.

    ``channels[c]`` is ``(N, L_c)``: sample n's distribution over channel c's values.
    A sample's distribution over all codes factorises over channels, so its entropy is
    the exact sum of channel entropies. The batch-averaged distribution does not
    factorise; it is computed exactly within consecutive groups of channels holding at
    most ``max_group_codes`` codes (memory N x max_group_codes, never N x all codes) and
    summed over groups, as Open-MAGVIT2 does with sub-codebooks. The sum is an upper
    bound of the true codebook entropy, equal to it when groups are independent.
    """
    per_sample = torch.stack([_entropy(probs) for probs in channels]).sum(0).mean()
    groups: list[list[Tensor]] = []
    codes = max_group_codes + 1
    for probs in channels:
        codes *= probs.shape[-1]
        if codes > max_group_codes:
            groups.append([])
            codes = probs.shape[-1]
        groups[-1].append(probs)
    codebook = per_sample.new_zeros(())
    for group in groups:
        codebook = codebook + _entropy(_joint_distribution(group).mean(0))
    return per_sample, codebook
