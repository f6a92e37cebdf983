"""The router: task and grounding tokens parsed from hand-written sequences and from the
output of a tiny trained model, handed to the built-in experts; bad sequences refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tokenizers_zoo as tz
from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.ntp import sequence
from tokenizers_zoo.ntp.constraints import FormatRule
from tokenizers_zoo.ntp.model import Transformer, TransformerConfig
from tokenizers_zoo.ntp.router import Router
from tokenizers_zoo.ntp.sample import generate
from tokenizers_zoo.ntp.sequence import Box, Media, Task
from tokenizers_zoo.ntp.vocabulary import MediaCodes, Vocabulary

GRID = np.array([[10, 200], [3000, 4000]])
BOX = (0.25, 0.25, 0.75, 0.75)


@pytest.fixture(scope="module")
def tok() -> object:
    return tz.load("image-fsq-f8-4k")


def _vocab(tasks: tuple[str, ...] = ("generate_image", "ground")) -> Vocabulary:
    codes = MediaCodes("image-fsq-f8-4k", "image", (4375,))
    return Vocabulary(resolutions=((2, 2),), tasks=tasks, coordinate_bins=1000, media=(codes,))


def _ground_sequence(v: Vocabulary) -> np.ndarray:
    return sequence.interleaved(v, ["where?", Task("ground"), Box(BOX)]).ids


def _image_sequence(v: Vocabulary) -> np.ndarray:
    return sequence.interleaved(v, ["draw", Task("generate_image"), Media("image", GRID)]).ids


def test_hand_written_sequences_reach_their_experts(tok: object) -> None:
    v = _vocab()
    router = Router(v, tok)
    request = router.parse(_image_sequence(v))
    assert (request.task, request.text, request.boxes) == ("generate_image", "draw", [])
    expected = tz.media.files.media_arrays("image", tok.decode(torch.from_numpy(GRID)[None]))[0]
    np.testing.assert_array_equal(router.route(_image_sequence(v)), expected)
    assert router.parse(_ground_sequence(v)).boxes == [(0.2505, 0.2505, 0.7505, 0.7505)]
    drawn = router.route(_ground_sequence(v), image=np.zeros((16, 16, 3), np.uint8))
    assert drawn[4, 4].tolist() == [255, 0, 0] and drawn[4, 12].tolist() == [255, 0, 0]
    assert drawn[12, 8].tolist() == [255, 0, 0] and drawn[8, 8].tolist() == [0, 0, 0]  # outline only
    for ids in (_image_sequence(v), _ground_sequence(v)):
        assert FormatRule(v, "interleaved").feed(ids).done


def test_bad_sequences_and_unknown_tasks_are_refused(tok: object) -> None:
    v = _vocab(("generate_image", "ground", "caption"))
    router = Router(v, tok)
    with pytest.raises(InvalidTokensError, match="needs an image"):
        router.route(_ground_sequence(v))
    with pytest.raises(InvalidTokensError, match="no expert for <task:caption>"):
        router.route(sequence.interleaved(v, [Task("caption")]).ids)
    with pytest.raises(InvalidTokensError, match="holds one task token, this one 0"):
        router.route(sequence.text_only(v, "no task").ids)
    with pytest.raises(InvalidTokensError, match="holds one task token, this one 2"):
        router.route(sequence.interleaved(v, [Task("ground"), Task("caption")]).ids)
    short_box = [v["<bos>"], v["<task:ground>"], v["<box>"], v["<coord:1>"], v["</box>"], v["<eos>"]]
    with pytest.raises(InvalidTokensError, match="a box is <box>, four coordinates, </box>"):
        router.route(short_box)
    with pytest.raises(InvalidTokensError, match="outside the vocabulary"):
        router.route([v.size + 3])
    with pytest.raises(InvalidTokensError, match=r"no <task:segment> in the vocabulary"):
        router.register("segment", lambda request: None)
    router.register("caption", lambda request: f"{len(request.text)} characters")
    assert router.route(sequence.interleaved(v, ["hello", Task("caption")]).ids) == "5 characters"


def test_a_tiny_trained_model_routes(tok: object) -> None:
    """A model that learned two sequences gives them back from their first words, and the
    router makes of them an image and a drawn box."""
    v = _vocab()
    examples = [_ground_sequence(v), _image_sequence(v)]
    length = max(len(e) for e in examples)
    batch = torch.full((2, length), v["<pad>"], dtype=torch.long)
    for row, ids in enumerate(examples):
        batch[row, : len(ids)] = torch.from_numpy(ids)
    torch.manual_seed(0)
    model = Transformer(
        TransformerConfig(vocab_size=v.size, n_layer=2, n_head=2, d_model=32, block_size=length)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss = model.loss(batch[:, :-1], batch[:, 1:], batch[:, 1:] != v["<pad>"])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    router = Router(v, tok)
    outputs = []
    for ids in examples:
        prompt = ids[: 1 + 4]  # <bos> and the first word's first four bytes
        rule = FormatRule(v, "interleaved").feed(prompt)
        out = generate(model, torch.from_numpy(prompt)[None], length - 5, temperature=0, rules=[rule])[0]
        assert out[: len(ids)].tolist() == ids.tolist()
        outputs.append(router.route(out.tolist(), image=np.zeros((16, 16, 3), np.uint8)))
    assert outputs[0][4, 4].tolist() == [255, 0, 0] and outputs[1].shape == (16, 16, 3)
