"""The transformer's options at tiny sizes: 2-D rotary positions for image grids and the
block-causal mask of next-scale prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tokenizers_zoo.ntp import sequence
from tokenizers_zoo.ntp.constraints import FormatRule
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
