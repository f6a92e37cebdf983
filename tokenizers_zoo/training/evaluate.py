"""Reconstruction quality of an image tokenizer on held-out tiles: PSNR, usage, speed."""

from __future__ import annotations

import math
import time

import torch
from torch import Tensor

from tokenizers_zoo.tokenizer import Tokenizer


@torch.no_grad()
def evaluate_reconstruction(
    tokenizer: Tokenizer, tiles: Tensor, device: torch.device | str = "cpu", batch_size: int = 8
) -> dict[str, float]:
    """Mean PSNR (dB, on uint8 round trips), codebook usage (fraction of all ids seen
    over every tile, discrete only) and encode+decode throughput in images/s."""
    was_training = tokenizer.training
    tokenizer.eval()
    mse_per_tile: list[float] = []
    seen: torch.Tensor | None = None
    started = time.perf_counter()
    for start in range(0, tiles.shape[0], batch_size):
        batch = tiles[start : start + batch_size]
        x = (batch.float() / 127.5 - 1.0).to(device)
        tokens = tokenizer.encode(x)
        recon = tokenizer.decode(tokens)
        recon_u8 = ((recon.float().clamp(-1, 1) + 1) * 127.5).round().cpu()
        mse_per_tile += (recon_u8 - batch.float()).pow(2).flatten(1).mean(1).tolist()
        if tokens.ids is not None:
            size = max(tokenizer.info.vocab_size)
            counts = torch.bincount(tokens.ids.flatten().cpu(), minlength=size)
            seen = counts > 0 if seen is None else seen | (counts > 0)
    elapsed = time.perf_counter() - started
    tokenizer.train(was_training)
    psnr = [99.0 if m == 0 else 10 * math.log10(255.0**2 / m) for m in mse_per_tile]
    result = {"psnr": sum(psnr) / len(psnr), "tiles": float(len(psnr)), "images_per_s": len(psnr) / elapsed}
    if seen is not None:
        result["usage"] = float(seen.float().mean())
    return result
