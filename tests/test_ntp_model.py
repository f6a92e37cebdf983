"""The transformer's options at tiny sizes: 2-D rotary positions for image grids, the
block-causal mask of next-scale prediction, and the heads for continuous tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tokenizers_zoo.ntp import sequence
from tokenizers_zoo.ntp.constraints import FormatRule
from tokenizers_zoo.ntp.heads import HEADS, SCHEDULES, LatentConfig, make_head, noise_levels
from tokenizers_zoo.ntp.model import Transformer, TransformerConfig
from tokenizers_zoo.ntp.positions import grid_positions
from tokenizers_zoo.ntp.sample import generate, sample_images
from tokenizers_zoo.ntp.vocabulary import MediaCodes, Vocabulary


def _vocab(books: int = 1) -> Vocabulary:
    codes = MediaCodes("image-fsq-f8-4k", "image", (16,) * books)
    return Vocabulary(resolutions=((2, 3),), num_classes=2, coordinate_bins=0, media=(codes,))


def _model(vocab_size: int, rope: str = "1d", block: int = 40) -> Transformer:
    torch.manual_seed(0)
    return Transformer(
        TransformerConfig(vocab_size=vocab_size, n_layer=2, n_head=2, d_model=32, block_size=block, rope=rope)
    )


def test_grid_positions_follow_the_rule() -> None:
    v = _vocab(books=2)
    codes = np.arange(12).reshape(2, 3, 2)
    ids = torch.from_numpy(sequence.class_conditional(v, 1, codes).ids)[None]
    pairs = grid_positions(v, ids)[0].tolist()
    # <bos> <class:1> <boi> <res:2x3> at their index; the grid's first code is at s = 4.
    assert pairs[:4] == [[0, 0], [1, 1], [2, 2], [3, 3]]
    s = 4
    row0 = [[s, s + c] for c in (0, 0, 1, 1, 2, 2)] + [[s, s + 3]]  # two codebooks a cell, then <eol>
    row1 = [[s + 1, s + c] for c in (0, 0, 1, 1, 2, 2)] + [[s + 1, s + 3]]
    assert pairs[4:18] == row0 + row1
    assert pairs[18:] == [[18, 18], [19, 19]]  # <eoi> <eos>: their index again
    # A span cut off by the end of the ids gets pairs for what it has.
    assert grid_positions(v, ids[:, :7])[0].tolist() == pairs[:7]


def test_2d_rope_sees_row_and_column_offsets() -> None:
    v = _vocab()
    model = _model(v.size, rope="2d").eval()
    ids = torch.from_numpy(sequence.class_conditional(v, 0, np.arange(6).reshape(2, 3)).ids)[None]
    pairs = grid_positions(v, ids)
    states = model.hidden(ids, positions=pairs)
    # Relative: shifting every pair by the same amount changes nothing ...
    torch.testing.assert_close(model.hidden(ids, positions=pairs + 3), states, rtol=1e-4, atol=1e-5)
    # ... but rows and columns are told apart.
    assert not torch.allclose(model.hidden(ids, positions=pairs.flip(-1)), states, atol=1e-4)
    with pytest.raises(ValueError, match="needs positions"):
        model(ids)
    with pytest.raises(ValueError, match="multiple of 4"):
        TransformerConfig(vocab_size=8, n_head=2, d_model=12, rope="2d")


def test_2d_rope_sampling_is_the_same_with_and_without_the_cache() -> None:
    v = _vocab()
    model = _model(v.size, rope="2d")
    prompts = [sequence.image_prompt(v, label, (2, 3)) for label in (0, 1)]
    cached = sample_images(model, v, "class_conditional", prompts, temperature=0.0)
    prompt = torch.from_numpy(np.stack(prompts))
    rules = [FormatRule(v, "class_conditional").feed(p) for p in prompts]
    uncached = generate(model, prompt, 10, temperature=0, use_cache=False, rules=rules)
    assert torch.equal(torch.from_numpy(np.stack(cached)), uncached)
    with pytest.raises(ValueError, match="give vocab"):
        generate(model, prompt, 3)


def test_block_causal_mask_sees_its_own_block_and_earlier_ones() -> None:
    model = _model(20).eval()
    blocks = torch.tensor([[0, 1, 1, 2, 2, 2]])
    ids = torch.tensor([[3, 4, 5, 6, 7, 8]])
    out = model(ids, blocks=blocks)
    later = ids.clone()
    later[0, 3:] = torch.tensor([9, 10, 11])  # another last block
    torch.testing.assert_close(model(later, blocks=blocks)[:, :3], out[:, :3])
    same_block = ids.clone()
    same_block[0, 2] = 12  # the second id of block 1: the first id of block 1 sees it
    assert not torch.allclose(model(same_block, blocks=blocks)[:, 1], out[:, 1])
    torch.testing.assert_close(model(same_block, blocks=blocks)[:, 0], out[:, 0])
    # Fed block by block through the cache, the same states.
    cache = model.new_cache(1)
    steps = [model(ids[:, a:b], cache, blocks=blocks[:, :b]) for a, b in ((0, 1), (1, 3), (3, 6))]
    torch.testing.assert_close(torch.cat(steps, 1), out, rtol=1e-4, atol=1e-5)


def test_noise_schedules_fall_from_signal_to_noise() -> None:
    for schedule in SCHEDULES:
        levels = noise_levels(schedule, 1000)
        assert levels.shape == (1000,) and (levels.diff() < 0).all(), schedule
        assert levels[0] > 0.99 and levels[-1] < 0.01, schedule


def _two_clusters(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """States that say which of two clusters the 2-D vector after them is drawn from."""
    which = torch.randint(0, 2, (n,), generator=generator)
    centres = torch.tensor([[2.0, -1.0], [-2.0, 1.0]])
    return torch.eye(4)[which], centres[which] + 0.1 * torch.randn(n, 2, generator=generator)


@pytest.mark.parametrize("head", HEADS)
def test_latent_heads_learn_what_the_state_predicts(head: str) -> None:
    torch.manual_seed(0)
    config = LatentConfig(dim=2, head=head, width=64, depth=2, sample_steps=50)
    model = make_head(4, config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2 if head == "mse" else 3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(400):
        state, target = _two_clusters(128, generator)
        loss = model.loss(state, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    drawn = model.sample(torch.eye(4)[[0] * 64 + [1] * 64], generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(drawn[:64].mean(0), torch.tensor([2.0, -1.0]), atol=0.25, rtol=0)
    torch.testing.assert_close(drawn[64:].mean(0), torch.tensor([-2.0, 1.0]), atol=0.25, rtol=0)
    if head == "diffusion":  # it draws from the cluster, not its mean: the spread is there
        assert 0.03 < float(drawn[:64].std(0).mean()) < 0.4
    # Guidance at scale 1 is the conditional draw; stronger guidance moves the draws.
    cond, uncond = torch.eye(4)[[0] * 8], torch.eye(4)[[1] * 8]
    plain = model.sample(cond, generator=torch.Generator().manual_seed(2))
    once = model.sample(cond, uncond, 1.0, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(once, plain, rtol=1e-4, atol=1e-4)
    strong = model.sample(cond, uncond, 3.0, generator=torch.Generator().manual_seed(2))
    assert float((strong - plain).abs().max()) > 0.5
