"""Vector quantization against an explicit codebook (VQ-VAE, VQGAN, SoundStream stages)."""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tokenizers_zoo.kernels import lookup_codes, nearest_code
from tokenizers_zoo.quantizers.base import (
    Quantizer,
    QuantizerOutput,
    check_indices,
    full_precision,
    make_projection,
    rotation_trick,
    straight_through,
    usage_metrics,
)
from tokenizers_zoo.quantizers.distributed import (
    all_reduce_sum_,
    broadcast_,
    first_rank_with_data,
    rank,
)
from tokenizers_zoo.quantizers.factory import register_quantizer
from tokenizers_zoo.quantizers.kmeans import kmeans


def _mse(a: Tensor, b: Tensor) -> Tensor:
    """``F.mse_loss``, except that no vectors (a DDP rank with an empty batch) give 0, not
    the NaN of a mean over nothing; still attached to the graph, so DDP sees every parameter."""
    return F.mse_loss(a, b) if a.numel() else (a - b).pow(2).sum()


def quantize_to_codebook(
    z: Tensor,
    codebook: Tensor,
    *,
    use_cosine_sim: bool,
    commitment_weight: float,
    codebook_weight: float,
    use_rotation_trick: bool,
    indices: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Snap rows of ``z (N, D)`` to their nearest codes; shared by every explicit-codebook VQ.

    Returns ``(output, indices, loss, target)``: the output carries gradients to ``z``
    (straight-through or rotation trick) and equals the codes exactly; ``target`` is
    the vector compared with the codes (``z`` normalised under cosine similarity).
    The codebook loss term (``codebook_weight``) trains a codebook that has gradients;
    pass 0 for EMA codebooks. ``indices`` skips the search when a fused search (residual
    VQ's ``rvq_encode``) already found the nearest codes of ``z``.
    """
    target = F.normalize(z, dim=-1) if use_cosine_sim else z
    if indices is None:
        indices, _ = nearest_code(target, codebook, "cosine" if use_cosine_sim else "l2")
    codes = codebook[indices]
    loss = z.new_zeros(())
    if commitment_weight > 0:
        loss = loss + commitment_weight * _mse(target, codes.detach())
    if codebook_weight > 0 and codes.requires_grad:
        loss = loss + codebook_weight * _mse(codes, target.detach())
    if torch.is_grad_enabled() and target.requires_grad:
        output = rotation_trick(target, codes) if use_rotation_trick else straight_through(target, codes)
    else:
        output = codes.detach()
    return output, indices, loss, target


@register_quantizer("vq")
class VectorQuantizer(Quantizer):
    """Nearest-neighbour quantizer with an EMA or a learned codebook.

    Arguments keep vector-quantize-pytorch's names (``dim``, ``codebook_size``,
    ``codebook_dim``, ``decay``, ``kmeans_init``, ``threshold_ema_dead_code``,
    ``use_cosine_sim``, ``commitment_weight``, ``ema_update``, ``rotation_trick``).
    ``decay`` defaults to 0.99 (VQ-VAE-2, SoundStream) rather than 0.8.

    ``threshold_ema_dead_code`` compares with a code's EMA count of assignments per
    step, so it scales with the batch: a batch of N vectors gives each code N / K on
    average. A threshold above that average restarts nearly every code at every step.

    Search never builds the N x K distance matrix (``tokenizers_zoo.kernels``), and
    distances, EMA statistics and losses are fp32 under autocast. EMA statistics and
    dead-code restarts are all-reduced/broadcast when torch.distributed is
    initialised, so every rank keeps the same codebook.
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        codebook_dim: int | None = None,
        *,
        use_cosine_sim: bool = False,
        ema_update: bool = True,
        decay: float = 0.99,
        eps: float = 1e-5,
        kmeans_init: bool = False,
        kmeans_iters: int = 10,
        threshold_ema_dead_code: float = 0.0,
        commitment_weight: float = 1.0,
        codebook_weight: float = 1.0,
        rotation_trick: bool = False,
    ) -> None:
        super().__init__()
        if codebook_size < 1:
            raise ValueError(f"codebook_size must be >= 1, got {codebook_size}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.dim = dim
        self.codebook_dim = codebook_dim or dim
        self._codebook_size = codebook_size
        self.use_cosine_sim = use_cosine_sim
        self.ema_update = ema_update
        self.decay = decay
        self.eps = eps
        self.kmeans_iters = kmeans_iters
        self.threshold_ema_dead_code = threshold_ema_dead_code
        self.commitment_weight = commitment_weight
        self.codebook_weight = codebook_weight
        self.rotation_trick = rotation_trick
        self.project_in = make_projection(dim, self.codebook_dim)
        self.project_out = make_projection(self.codebook_dim, dim)

        init = torch.empty(codebook_size, self.codebook_dim)
        nn.init.kaiming_uniform_(init, a=math.sqrt(5))
        if use_cosine_sim:
            init = F.normalize(init, dim=-1)
        if ema_update:
            self.register_buffer("codebook", init)
            self.register_buffer("cluster_size", torch.ones(codebook_size))
            self.register_buffer("embed_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)
        self.register_buffer("initted", torch.tensor(not kmeans_init))

    @property
    def codebook_size(self) -> int:
        return self._codebook_size

    def _apply(self, fn, recurse=True):  # noqa: ANN001, ANN202
        """Keep EMA state in fp32 when the module is cast (``.half()``, ``.to(bf16)``):
        statistics accumulated in 16 bits stop moving once counts grow."""
        super()._apply(fn, recurse)
        if self.ema_update:
            for name in ("codebook", "cluster_size", "embed_sum"):
                buffer = self._buffers[name]
                if buffer is not None and buffer.is_floating_point() and buffer.dtype != torch.float32:
                    self._buffers[name] = buffer.float()
        return self

    def get_codebook(self) -> Tensor:
        """The codebook the search uses (unit rows under cosine similarity), fp32."""
        codebook = self.codebook.float()
        return F.normalize(codebook, dim=-1) if self.use_cosine_sim else codebook

    def forward(self, x: Tensor, nearest: Tensor | None = None) -> QuantizerOutput:
        """``nearest``: the indices of the nearest codes of ``x``, when the caller already
        searched (``ResidualVQ`` does, for all stages in one fused kernel)."""
        self.check_input(x)
        with full_precision(x):
            z = self.project_in(x.float()).reshape(-1, self.codebook_dim)
            if self.training and not bool(self.initted):
                self._kmeans_init(z.detach())
            output, indices, loss, target = quantize_to_codebook(
                z,
                self.get_codebook(),
                use_cosine_sim=self.use_cosine_sim,
                commitment_weight=self.commitment_weight,
                codebook_weight=0.0 if self.ema_update else self.codebook_weight,
                use_rotation_trick=self.rotation_trick,
                indices=None if nearest is None else nearest.reshape(-1),
            )
            if self.training and self.ema_update:
                self._ema_step(target.detach(), indices)
            quantized = self.project_out(output).reshape(*x.shape[:-1], self.dim).to(x.dtype)
        metrics = usage_metrics(indices, self.codebook_size)
        return QuantizerOutput(quantized, indices.reshape(x.shape[:-1]), loss, metrics)

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        check_indices(indices, self.codebook_size, stacked=False)
        with full_precision(indices):
            return self.project_out(lookup_codes(indices, self.get_codebook()))

    @torch.no_grad()
    def _kmeans_init(self, samples: Tensor) -> None:
        """K-means on the batch of the lowest rank that has vectors, broadcast to all ranks.

        When no rank has a vector the codebook stays uninitialised until the next batch
        (on every rank alike: ``initted`` changes only here, after the collectives).
        """
        src = first_rank_with_data(samples.shape[0], samples.device)
        if src is None:
            return
        if rank() == src:
            means, counts = kmeans(samples, self.codebook_size, self.kmeans_iters, self.use_cosine_sim)
        else:
            means = samples.new_empty(self.codebook_size, self.codebook_dim, dtype=torch.float32)
            counts = samples.new_empty(self.codebook_size, dtype=torch.float32)
        broadcast_(means, src)
        broadcast_(counts, src)
        self.codebook.data.copy_(means)
        if self.ema_update:
            self.cluster_size.copy_(counts)
            self.embed_sum.copy_(means * counts[:, None])
        self.initted.fill_(True)

    @torch.no_grad()
    def _ema_step(self, target: Tensor, indices: Tensor) -> None:
        counts = torch.bincount(indices, minlength=self.codebook_size).float()
        sums = torch.zeros_like(self.embed_sum).index_add_(0, indices, target)
        all_reduce_sum_(counts)
        all_reduce_sum_(sums)
        self.cluster_size.lerp_(counts, 1 - self.decay)
        self.embed_sum.lerp_(sums, 1 - self.decay)
        # Laplace smoothing keeps rarely used codes from dividing by ~0.
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (total + self.codebook_size * self.eps) * total
        codebook = self.embed_sum / smoothed[:, None]
        self.codebook.copy_(F.normalize(codebook, dim=-1) if self.use_cosine_sim else codebook)
        if self.threshold_ema_dead_code > 0:
            self._restart_dead_codes(target)

    @torch.no_grad()
    def _restart_dead_codes(self, target: Tensor) -> None:
        """Move codes whose EMA usage fell below the threshold onto random batch vectors.

        The dead set is computed from all-reduced statistics, so it is the same on every
        rank; the lowest rank with a non-empty batch draws the replacements and broadcasts
        them. When no rank has a vector the dead codes are left for the next batch rather
        than set to zero.
        """
        dead = self.cluster_size < self.threshold_ema_dead_code
        num_dead = int(dead.sum())
        if num_dead == 0:
            return
        average = target.shape[0] / self.codebook_size
        if num_dead > self.codebook_size // 2 and self.threshold_ema_dead_code > average:
            warnings.warn(
                f"threshold_ema_dead_code={self.threshold_ema_dead_code:g} is above the average "
                f"assignments per code and step ({target.shape[0]} vectors / {self.codebook_size} codes "
                f"= {average:.3g}): {num_dead} codes were restarted at once; lower the threshold",
                stacklevel=3,
            )
        src = first_rank_with_data(target.shape[0], target.device)
        if src is None:
            return
        if rank() == src:
            pick = torch.randint(0, target.shape[0], (num_dead,), device=target.device)
            replacements = target[pick].float()
        else:
            replacements = target.new_empty(num_dead, self.codebook_dim, dtype=torch.float32)
        broadcast_(replacements, src)
        self.codebook[dead] = replacements
        self.cluster_size[dead] = self.threshold_ema_dead_code
        self.embed_sum[dead] = replacements * self.threshold_ema_dead_code
