"""A decoder-only transformer for next-token prediction over zoo tokens and text.

The modern small-LM recipe, each piece plain enough to read in one sitting: RMSNorm
before each sublayer, rotary position embeddings (RoPE) on queries and keys, a SwiGLU
MLP, causal ``scaled_dot_product_attention`` (the flash kernel on GPU, and on CPU when
q/k/v are contiguous), input and output embeddings tied. ``KVCache`` keeps each layer's
keys and values in preallocated tensors, so generating one token costs one position of
work instead of the whole prefix.

Two options change what a position sees:

- ``rope="2d"`` (LlamaGen): each position has a (row, column) pair; the first half of every
  head's channels rotates by the row, the second half by the column. ``positions.py`` gives
  the pairs: ids of an image grid get their grid cell, everything else its index twice.
- ``blocks`` (VAR's next-scale prediction): a block number per position; a position then
  sees every position of an earlier block and all of its own block, not just those before it.

Continuous tokens (``latent``, a ``heads.LatentConfig``): a latent vector's position holds a
placeholder id whose embedding gets the vector, projected by a linear layer, added; the
state before it feeds the continuous head (``heads.py``: MSE regression or MAR's diffusion
MLP) instead of the cross-entropy, and the loss is the cross-entropy of the discrete targets
plus ``latent.weight`` times the head's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tokenizers_zoo.ntp.heads import LatentConfig, make_head

ROPES = ("1d", "2d")


@dataclass(frozen=True)
class TransformerConfig:
    vocab_size: int
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    block_size: int = 256
    #: SwiGLU hidden width; 0 picks 8/3 of ``d_model`` rounded up to a multiple of 32, which
    #: keeps the parameter count of a 4x GELU MLP.
    d_hidden: int = 0
    dropout: float = 0.0
    rope_theta: float = 10000.0
    #: "1d": one position per id; "2d": (row, column) pairs (positions.py), half the channels each
    rope: str = "1d"
    tie_embeddings: bool = True
    #: continuous tokens and their head (None: ids only); a mapping of its fields is taken too
    latent: LatentConfig | None = None

    def __post_init__(self) -> None:
        if self.d_model % self.n_head or (self.d_model // self.n_head) % 2:
            raise ValueError(f"d_model {self.d_model} must split into {self.n_head} heads of even width")
        if self.rope not in ROPES:
            raise ValueError(f"rope must be one of {', '.join(ROPES)}, got {self.rope!r}")
        if self.rope == "2d" and (self.d_model // self.n_head) % 4:
            width = self.d_model // self.n_head
            raise ValueError(f"2-D RoPE needs a head width that is a multiple of 4, got {width}")
        if min(self.vocab_size, self.n_layer, self.block_size) < 1:
            raise ValueError("vocab_size, n_layer and block_size must be positive")
        if isinstance(self.latent, dict):
            object.__setattr__(self, "latent", LatentConfig(**self.latent))

    @property
    def hidden(self) -> int:
        return self.d_hidden or 32 * math.ceil(8 * self.d_model / 3 / 32)


class Latents(NamedTuple):
    """The continuous tokens of sequences ``(B, T + 1)`` (inputs and targets together):
    ``values`` ``(B, T + 1, dim)``, zero where ``present`` ``(B, T + 1)`` is False."""

    values: Tensor
    present: Tensor


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        normed = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


def rope_tables(head_dim: int, length: int, theta: float) -> tuple[Tensor, Tensor]:
    """cos and sin of every position's rotation angle, ``(length, head_dim // 2)``."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate each (even, odd) channel pair of ``x`` ``(B, H, T, D)`` by its position's angle."""
    even, odd = x.float()[..., 0::2], x.float()[..., 1::2]
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.flatten(-2).type_as(x)


class KVCache:
    """Keys and values of every layer for up to ``length`` positions of ``batch`` sequences,
    allocated once; ``position`` is how many are filled."""

    def __init__(
        self, config: TransformerConfig, batch: int, length: int, device: torch.device, dtype: torch.dtype
    ) -> None:
        shape = (batch, config.n_head, length, config.d_model // config.n_head)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.length = length
        self.position = 0


class Attention(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.dropout = config.dropout

    def forward(
        self,
        x: Tensor,
        cos: Tensor,
        sin: Tensor,
        cache: KVCache | None = None,
        layer: int = 0,
        mask: Tensor | None = None,
    ) -> Tensor:
        b, t, c = x.shape
        q, k, v = (
            part.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
            for part in self.qkv(x).split(c, dim=-1)
        )
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is None and mask is None:
            out = F.scaled_dot_product_attention(
                q.contiguous(),
                k.contiguous(),
                v.contiguous(),
                dropout_p=self.dropout if self.training else 0.0,
                is_causal=True,
            )
        else:
            keys, values = k.contiguous(), v.contiguous()
            if cache is not None:
                start = cache.position
                cache.keys[layer][:, :, start : start + t] = k
                cache.values[layer][:, :, start : start + t] = v
                keys, values = cache.keys[layer][:, :, : start + t], cache.values[layer][:, :, : start + t]
            out = F.scaled_dot_product_attention(q.contiguous(), keys, values, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(b, t, c))


def attention_mask(
    t: int, start: int, padding: Tensor | None, device: torch.device, blocks: Tensor | None = None
) -> Tensor:
    """Which keys each of ``t`` queries at positions ``start ..`` sees: the causal ones (with
    ``blocks`` ``(B, start + t)``: those of the query's block and earlier blocks), less
    the positions ``padding`` ``(B, start + t)`` marks (a left-padded prompt), except a
    padding query's own key, which keeps its row of attention finite."""
    if blocks is None:
        # Query i (at position start + i) sees keys 0 .. start + i.
        mask = torch.ones(t, start + t, dtype=torch.bool, device=device).tril(diagonal=start)
    else:
        blocks = blocks[:, : start + t].to(device)
        mask = (blocks[:, None, :] <= blocks[:, start:, None])[:, None]
    if padding is None:
        return mask
    own = torch.zeros_like(mask)
    own[:, start:] = torch.eye(t, dtype=torch.bool, device=device)
    return (mask & ~padding[:, None, None, : start + t].to(device)) | own


class SwiGLU(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.gate_up = nn.Linear(config.d_model, 2 * config.hidden, bias=False)
        self.down = nn.Linear(config.hidden, config.d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(config.d_model)
        self.attn = Attention(config)
        self.mlp_norm = RMSNorm(config.d_model)
        self.mlp = SwiGLU(config)
        self.drop = nn.Dropout(config.dropout)

    def forward(
        self, x: Tensor, cos: Tensor, sin: Tensor, cache: KVCache | None, layer: int, mask: Tensor | None
    ) -> Tensor:
        x = x + self.drop(self.attn(self.attn_norm(x), cos, sin, cache, layer, mask))
        return x + self.drop(self.mlp(self.mlp_norm(x)))


class Transformer(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = RMSNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.head.weight = self.embed.weight
        # In 2-D each half of a head rotates by one coordinate, at the frequencies of its width.
        rotated = config.d_model // config.n_head // (2 if config.rope == "2d" else 1)
        cos, sin = rope_tables(rotated, config.block_size, config.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init)
        # GPT-2's scaled init of the projections into the residual stream.
        for name, param in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.down.weight")):
                nn.init.normal_(param, 0.0, 0.02 / math.sqrt(2 * config.n_layer))
        if config.latent is not None:  # after the init above: the heads initialize themselves
            if config.latent.dim < 1:
                raise ValueError("latent.dim must be set (the trainer takes it from the data)")
            self.latent_in = nn.Linear(config.latent.dim, config.d_model, bias=False)
            self.latent_head = make_head(config.d_model, config.latent)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, 0.0, 0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, ids: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """Logits ``(B, T, vocab)`` for ids ``(B, T)``; the other arguments are ``hidden``'s."""
        return self.head(self.hidden(ids, *args, **kwargs))

    def hidden(
        self,
        ids: Tensor,
        cache: KVCache | None = None,
        padding: Tensor | None = None,
        *,
        positions: Tensor | None = None,
        blocks: Tensor | None = None,
        latents: Tensor | None = None,
    ) -> Tensor:
        """The last layer's normalized states ``(B, T, d_model)``, what the heads read.

        With ``cache``, ``ids`` continue the sequences the cache holds (and are added to it).
        ``padding`` ``(B, positions so far)``, True at the pad ids of left-padded prompts,
        hides those from attention: rotary positions are relative, so a row's states are
        those of its unpadded ids. ``positions`` ``(B, T, 2)``: the (row, column) of each id,
        which a ``rope="2d"`` model needs (``positions.grid_positions``). ``blocks``
        ``(B, positions so far)``: the block-causal mask's block of every position.
        ``latents`` ``(B, T, dim)``: the vector at each latent placeholder, zero elsewhere."""
        start = 0 if cache is None else cache.position
        t = ids.shape[1]
        if start + t > self.config.block_size:
            raise ValueError(f"{start + t} positions are over block_size {self.config.block_size}")
        cos, sin = self._rotations(start, t, positions)
        masked = cache is not None or padding is not None or blocks is not None
        mask = attention_mask(t, start, padding, ids.device, blocks) if masked else None
        x = self.embed(ids)
        if latents is not None:
            x = x + self.latent_in((latents * self.config.latent.scale).type_as(x))
        x = self.drop(x)
        for layer, block in enumerate(self.blocks):
            x = block(x, cos, sin, cache, layer, mask)
        if cache is not None:
            cache.position += t
        return self.norm(x)

    def _rotations(self, start: int, t: int, positions: Tensor | None) -> tuple[Tensor, Tensor]:
        """cos and sin for ``t`` ids from ``start``: ``(T, D/2)`` in 1-D; in 2-D
        ``(B, 1, T, D/2)``, the row's angles for the first half, the column's for the second."""
        if self.config.rope == "1d":
            return self.rope_cos[start : start + t], self.rope_sin[start : start + t]
        if positions is None or positions.shape[1] != t:
            raise ValueError("a rope='2d' model needs positions (B, T, 2) for its ids (positions.py)")
        rows, cols = positions[..., 0], positions[..., 1]
        cos = torch.cat([self.rope_cos[rows], self.rope_cos[cols]], dim=-1)[:, None]
        sin = torch.cat([self.rope_sin[rows], self.rope_sin[cols]], dim=-1)[:, None]
        return cos, sin

    def loss(
        self,
        ids: Tensor,
        targets: Tensor,
        mask: Tensor | None = None,
        *,
        positions: Tensor | None = None,
        blocks: Tensor | None = None,
        latents: Latents | None = None,
    ) -> Tensor:
        """Mean cross-entropy of predicting ``targets`` (``-100``: not scored), over the
        positions ``mask`` keeps when given; with ``latents``, the targets that are latent
        vectors are scored by the continuous head instead, weighed by ``latent.weight``."""
        inputs = None if latents is None else latents.values[:, :-1]
        states = self.hidden(ids, positions=positions, blocks=blocks, latents=inputs)
        if mask is not None:
            targets = targets.masked_fill(~mask, -100)
        if latents is None:
            logits = self.head(states).float()
            return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
        continuous = latents.present[:, 1:] & (targets != -100)
        targets = targets.masked_fill(continuous, -100)
        scored = (targets != -100).sum().clamp(min=1)
        logits = self.head(states).float()
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="sum")
        loss = loss / scored
        if continuous.any():
            wanted = latents.values[:, 1:][continuous] * self.config.latent.scale
            loss = loss + self.config.latent.weight * self.latent_head.loss(states[continuous], wanted)
        return loss

    @torch.no_grad()
    def sample_latents(self, states: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """Latent vectors ``(N, dim)`` the continuous head draws after states ``(N, d_model)``,
        in the data's scale; the other arguments are the head's ``sample``'s (the
        unconditional stream's states, the guidance scale, the temperature, a generator)."""
        vectors = self.latent_head.sample(states, *args, **kwargs)
        return vectors / self.config.latent.scale

    def new_cache(self, batch: int, length: int | None = None) -> KVCache:
        param = self.embed.weight
        return KVCache(self.config, batch, length or self.config.block_size, param.device, param.dtype)
