"""Fused nearest-code search in Triton: distance GEMM + running argmin, N x K never stored.

Each program owns ``BLOCK_N`` rows, loads them once (all of D: up to 512) and streams
the codebook past them in tiles of ``BLOCK_K`` codes. A tile's scores
``offset[k] + scale[k] * <x, c_k>`` (one form for every metric, see
``nearest.score_terms``) are folded into a running ``BLOCK_N x BLOCK_K`` best value and
index, element by element; rows are reduced only once, after the last tile. That
keeps the hot loop to one FMA, one compare and two selects per code pair, with no
cross-lane shuffles per tile (the layout of Flash-KMeans' assign kernel and RAFT's
fusedL2NN). Ties break to the lowest index: a later tile replaces a lane's best only
when strictly better, and the final reduction takes the lowest index among the lanes
that hold the row minimum.

Residual VQ runs in the same kernel (``NUM_STAGES > 1``): after each stage the chosen
codes are gathered and subtracted from the residual, which stays in registers, so the
residual never goes back to memory between stages.

Dot products accumulate in fp32. bf16/fp16 inputs go to the tensor cores as they are
(their products are exact in fp32); fp32 inputs use 3xTF32, which keeps about fp32
accuracy where plain TF32 would round the inputs to 10 mantissa bits.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from tokenizers_zoo.kernels.nearest import TRITON_MAX_DIM
from tokenizers_zoo.kernels.triton_runtime import TritonKernel


def _search(
    x_ptr,
    codebooks_ptr,
    offset_ptr,
    scale_ptr,
    indices_ptr,
    distance_ptr,
    quantized_ptr,
    n_rows,
    n_codes,
    dim,
    stride_xn,
    stride_xd,
    stride_cs,
    stride_ck,
    stride_cd,
    stride_in,
    stride_qn,
    METRIC: tl.constexpr,  # 0: l2, 1: cosine, 2: ip (selects only the final distance)
    NUM_STAGES: tl.constexpr,
    WRITE_DISTANCE: tl.constexpr,
    WRITE_QUANTIZED: tl.constexpr,
    DOT_DTYPE: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < n_rows
    rows64 = rows.to(tl.int64)
    dims = tl.arange(0, BLOCK_D)
    dim_ok = dims < dim
    lanes = tl.arange(0, BLOCK_K)
    x_mask = row_ok[:, None] & dim_ok[None, :]
    residual = tl.load(
        x_ptr + rows64[:, None] * stride_xn + dims[None, :] * stride_xd, mask=x_mask, other=0.0
    ).to(tl.float32)
    x_sq = tl.sum(residual * residual, axis=1)
    total = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    best = tl.zeros([BLOCK_N], dtype=tl.float32)
    for stage in tl.static_range(NUM_STAGES):
        query = residual.to(DOT_DTYPE)
        lane_best = tl.full([BLOCK_N, BLOCK_K], float("inf"), tl.float32)
        lane_idx = tl.zeros([BLOCK_N, BLOCK_K], dtype=tl.int32)
        for start in range(0, n_codes, BLOCK_K):
            codes = start + lanes
            code_ok = codes < n_codes
            tile = tl.load(
                codebooks_ptr + stage * stride_cs + codes[None, :] * stride_ck + dims[:, None] * stride_cd,
                mask=dim_ok[:, None] & code_ok[None, :],
                other=0.0,
            ).to(DOT_DTYPE)
            dot = tl.dot(query, tile, input_precision=INPUT_PRECISION)
            offset = tl.load(offset_ptr + stage * n_codes + codes, mask=code_ok, other=float("inf"))
            scale = tl.load(scale_ptr + stage * n_codes + codes, mask=code_ok, other=0.0)
            score = offset[None, :] + scale[None, :] * dot
            better = score < lane_best
            lane_best = tl.where(better, score, lane_best)
            lane_idx = tl.where(better, codes[None, :], lane_idx)
        best = tl.min(lane_best, axis=1)
        at_best = lane_best == best[:, None]
        best_idx = tl.min(tl.where(at_best, lane_idx, n_codes), axis=1)
        tl.store(indices_ptr + rows64 * stride_in + stage, best_idx.to(tl.int64), mask=row_ok)
        if NUM_STAGES > 1 or WRITE_QUANTIZED:
            chosen = tl.load(
                codebooks_ptr
                + stage * stride_cs
                + best_idx[:, None].to(tl.int64) * stride_ck
                + dims[None, :] * stride_cd,
                mask=x_mask,
                other=0.0,
            ).to(tl.float32)
            residual = residual - chosen
            total = total + chosen
    if WRITE_QUANTIZED:
        tl.store(quantized_ptr + rows64[:, None] * stride_qn + dims[None, :], total, mask=x_mask)
    if WRITE_DISTANCE:
        if METRIC == 0:
            distance = tl.maximum(best + x_sq, 0.0)
        elif METRIC == 1:
            # a zero row scores 0 against every code, so its distance comes out as 1
            norm = tl.sqrt(x_sq)
            distance = 1.0 + best / tl.where(norm > 0, norm, 1.0)
        else:
            distance = best
        tl.store(distance_ptr + rows, distance, mask=row_ok)


def _prune(configs, named_args, **kwargs):
    """Smaller row blocks for wide vectors: the row tile lives in registers."""
    block_d = kwargs["BLOCK_D"]
    keep = [c for c in configs if c.kwargs["BLOCK_N"] * block_d <= 64 * 256]
    return keep or configs[:1]


_CONFIGS = [
    triton.Config({"BLOCK_N": n, "BLOCK_K": k}, num_warps=w, num_stages=s)
    for n, k, w, s in [
        (128, 128, 8, 3),
        (128, 64, 4, 3),
        (64, 128, 4, 3),
        (64, 64, 4, 4),
        (256, 64, 8, 3),
        (32, 128, 4, 3),
        (32, 64, 4, 2),
    ]
]

_KERNEL = TritonKernel(
    _search,
    configs=_CONFIGS,
    key=["n_codes", "BLOCK_D", "NUM_STAGES", "DOT_DTYPE", "METRIC"],
    prune_configs_by={"early_config_prune": _prune},
    interpret_meta={"BLOCK_N": 16, "BLOCK_K": 16},
)

_METRIC_IDS = {"l2": 0, "cosine": 1, "ip": 2}
_TL_DTYPES = {torch.float32: tl.float32, torch.bfloat16: tl.bfloat16, torch.float16: tl.float16}


def triton_search(
    x: torch.Tensor,
    codebooks: torch.Tensor,
    offset: torch.Tensor,
    scale: torch.Tensor,
    metric: str,
    *,
    want_quantized: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Search ``x (N, D)`` against ``codebooks (S, K, D)`` stage after stage.

    ``offset``/``scale`` are ``(S, K)`` fp32 score terms. Returns ``indices (N, S)``
    int64, the final distance ``(N,)`` fp32 when ``S == 1`` (else None) and the summed
    codes ``(N, D)`` fp32 when ``want_quantized``.
    """
    n, dim = x.shape
    num_stages, n_codes, _ = codebooks.shape
    if dim > TRITON_MAX_DIM:
        raise ValueError(f"the Triton search handles D up to {TRITON_MAX_DIM}, got {dim}")
    compiled = not _KERNEL.interpreted
    # Triton's interpreter multiplies bf16 blocks as raw 16-bit integers; it gets fp32
    # operands instead, which give the same products (exact in fp32) and fp32 sums.
    half_types = (torch.bfloat16, torch.float16) if compiled else (torch.float16,)
    same_half = x.dtype == codebooks.dtype and x.dtype in half_types
    dot_dtype = x.dtype if same_half and num_stages == 1 else torch.float32
    indices = torch.empty(n, num_stages, dtype=torch.int64, device=x.device)
    distance = torch.empty(n, dtype=torch.float32, device=x.device) if num_stages == 1 else None
    quantized = torch.empty(n, dim, dtype=torch.float32, device=x.device) if want_quantized else None
    _KERNEL(
        x.device,
        lambda meta: (triton.cdiv(n, meta["BLOCK_N"]),),
        x,
        codebooks,
        offset.contiguous(),
        scale.contiguous(),
        indices,
        distance if distance is not None else indices,
        quantized if quantized is not None else indices,
        n,
        n_codes,
        dim,
        x.stride(0),
        x.stride(1),
        codebooks.stride(0),
        codebooks.stride(1),
        codebooks.stride(2),
        indices.stride(0),
        quantized.stride(0) if quantized is not None else 0,
        METRIC=_METRIC_IDS[metric],
        NUM_STAGES=num_stages,
        WRITE_DISTANCE=distance is not None,
        WRITE_QUANTIZED=quantized is not None,
        DOT_DTYPE=_TL_DTYPES[dot_dtype],
        INPUT_PRECISION="tf32x3" if compiled and dot_dtype == torch.float32 else "ieee",
        BLOCK_D=max(16, triton.next_power_of_2(dim)),
    )
    return indices, distance, quantized
