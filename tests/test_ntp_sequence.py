"""The multimodal sequence format at tiny sizes: the vocabulary's layout, save/load and
fingerprint, every format builder (exact ids), loss masks, the constrained-decoding rules,
classifier-free guidance, left-padded prompts, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tokenizers_zoo as tz
from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.ntp import sequence
from tokenizers_zoo.ntp.constraints import FormatRule
from tokenizers_zoo.ntp.decode import decode_images, image_grid
from tokenizers_zoo.ntp.model import Transformer, TransformerConfig
from tokenizers_zoo.ntp.sample import generate, pad_left, sample_images
from tokenizers_zoo.ntp.sequence import Box, Media, Task
from tokenizers_zoo.ntp.text import BPEText, CorpusError, TextVocabulary, text_vocabulary
from tokenizers_zoo.ntp.vocabulary import MediaCodes, Vocabulary, VocabularyMismatchError

IMAGE = MediaCodes("image-fsq-f8-4k", "image", (10,), weights_sha256="abc")
AUDIO = MediaCodes("audio-rvq-16khz", "audio", (5, 5))
DELAYED = MediaCodes("audio-rvq-16khz", "audio", (5, 5), audio_layout="delay")
GRID = np.array([[0, 1, 2], [3, 4, 5]])
AUDIO_CODES = np.array([[1, 2, 3], [4, 0, 1]])  # 2 codebooks x 3 frames


def _vocab(audio: MediaCodes = AUDIO, **fields) -> Vocabulary:
    base = {"resolutions": ((2, 3),), "num_classes": 2, "tasks": ("ground",), "coordinate_bins": 4}
    return Vocabulary(media=(IMAGE, audio), **{**base, **fields})


def _names(vocab: Vocabulary, ids: np.ndarray) -> list[str]:
    return vocab.describe(ids).split()


def test_layout_text_first_then_specials_then_codes() -> None:
    v = _vocab()
    assert v.text.size == 256 and v["<pad>"] == 256 and v["<bos>"] == 257 and v["</box>"] == 268
    assert v["<res:2x3>"] == 269 and v.class_token(0) == 270 and v["<task:ground>"] == 272
    assert v.ids_in("<coord:") == range(273, 277)
    assert v.code_range("image") == range(277, 287)
    assert v.code_range("audio", 0) == range(287, 292) and v.code_range("audio", 1) == range(292, 297)
    assert v.size == 297
    assert [v.name_of(i) for i in (65, 257, 280, 293)] == ["text:'A'", "<bos>", "image:0:3", "audio:1:1"]
    with pytest.raises(InvalidTokensError, match="token id 297 is outside the vocabulary 0..296"):
        v.name_of(297)
    with pytest.raises(InvalidTokensError, match="outside the vocabulary"):
        v.check_ids([5, -1])
    with pytest.raises(InvalidTokensError, match="no token <class:7>"):
        v["<class:7>"]
    with pytest.raises(InvalidTokensError, match="no resolution token for a 4x4 grid"):
        v.resolution_token((4, 4))
    # A bare text vocabulary (nanoGPT's recipe) is its text ids and nothing else.
    chars = TextVocabulary.from_corpus("abcab")
    assert Vocabulary(text=chars, specials=()).size == 3


def test_save_load_and_fingerprint() -> None:
    v = _vocab()
    data = v.to_json()
    assert Vocabulary.from_json(data) == v and Vocabulary.from_json(data).fingerprint == v.fingerprint
    for changed in (
        _vocab(num_classes=3),
        _vocab(audio=DELAYED),
        Vocabulary(media=(MediaCodes("image-fsq-f8-4k", "image", (10,), weights_sha256="xyz"), AUDIO)),
        _vocab(text=TextVocabulary.from_corpus("ab")),
    ):
        assert changed.fingerprint != v.fingerprint
    tampered = {**data, "num_classes": 5}
    with pytest.raises(VocabularyMismatchError, match="does not match its file"):
        Vocabulary.from_json(tampered)
    with pytest.raises(VocabularyMismatchError, match="not a tzoo-ntp-vocabulary"):
        Vocabulary.from_json({"nothing": 1})
    assert "num_classes: 2 vs 3" in v.differences(_vocab(num_classes=3))


def test_check_dataset_names_what_differs() -> None:
    info = tz.load("image-fsq-f8-4k").info.to_dict()
    manifest = {
        "tokenizer": {"name": "image-fsq-f8-4k", "weights_sha256": "abc", "info": info, "options": {}}
    }
    v = Vocabulary(media=(MediaCodes.from_manifest(manifest, 1),))
    v.check_dataset(manifest)
    other = {"tokenizer": {**manifest["tokenizer"], "weights_sha256": "def"}}
    with pytest.raises(
        VocabularyMismatchError, match=r"tokenizer weights \(SHA-256\) abc, the dataset's are def"
    ):
        v.check_dataset(other)
    palette = tz.load("image-palette-512").info.to_dict()
    with pytest.raises(VocabularyMismatchError, match="with tokenizer image-fsq-f8-4k, the dataset's are"):
        v.check_dataset({"tokenizer": {"name": "image-palette-512", "info": palette}})
    audio = {"tokenizer": {"name": "audio-mulaw-8bit", "info": tz.load("audio-mulaw-8bit").info.to_dict()}}
    with pytest.raises(VocabularyMismatchError, match="has no audio codes"):
        v.check_dataset(audio)


def test_bpe_text_vocabulary(tmp_path) -> None:  # noqa: ANN001
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        (tmp_path / "tok.json").write_text("{}")
        with pytest.raises(CorpusError, match="needs the tokenizers package"):
            text_vocabulary(str(tmp_path / "tok.json"))
        return
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel()
    bpe.decoder = decoders.ByteLevel()  # without it the file decodes to the byte-level 'Ġthe' forms
    bpe.train_from_iterator(["the cat sat on the mat"] * 20, trainers.BpeTrainer(vocab_size=300))
    bpe.save(str(tmp_path / "tok.json"))
    text = text_vocabulary(str(tmp_path / "tok.json"))
    assert isinstance(text, BPEText) and text.decode(text.encode("the cat")).strip() == "the cat"
    v = Vocabulary(text=text)
    assert Vocabulary.from_json(v.to_json()).fingerprint == v.fingerprint and v["<pad>"] == text.size


def test_text_and_class_conditional_builders_exact_ids() -> None:
    v = _vocab()
    ids, mask, _ = sequence.text_only(v, "hi")
    assert ids.tolist() == [v["<bos>"], ord("h"), ord("i"), v["<eos>"]] and mask.tolist() == [0, 1, 1, 1]
    ids, mask, _ = sequence.class_conditional(v, 1, GRID)
    assert (
        _names(v, ids)
        == (
            "<bos> <class:1> <boi> <res:2x3> image:0:0 image:0:1 image:0:2 <eol> "
            "image:0:3 image:0:4 image:0:5 <eol> <eoi> <eos>"
        ).split()
    )
    assert mask.tolist() == [0, 0] + [1] * 12  # loss on the media span and <eos> only
    ids, *_ = sequence.class_conditional(v, 1, GRID, unconditional=True)
    assert _names(v, ids)[1] == "<null>"
    np.testing.assert_array_equal(sequence.parse_image(v, ids[2:-1]), GRID)


def test_caption_interleaved_and_speech_builders_exact_ids() -> None:
    v = _vocab()
    ids, mask, _ = sequence.caption_conditional(v, "a", GRID)
    assert ids[:4].tolist() == [v["<bos>"], ord("a"), v["<boi>"], v["<res:2x3>"]]
    assert mask.tolist() == [0, 0] + [1] * 12
    ids, mask, _ = sequence.caption_conditional(v, "a long caption", GRID, unconditional=True)
    assert _names(v, ids)[:3] == ["<bos>", "<null>", "<boi>"] and not mask[:2].any() and mask[2:].all()
    ids, mask, _ = sequence.interleaved(v, ["x", Media("audio", AUDIO_CODES[:, :1]), "y"])
    assert _names(v, ids) == [
        "<bos>",
        "text:'x'",
        "<boa>",
        "audio:0:1",
        "audio:1:4",
        "<eoa>",
        "text:'y'",
        "<eos>",
    ]
    assert mask.tolist() == [0] + [1] * 7
    ids, mask, _ = sequence.speech_continuation(v, AUDIO_CODES, prompt_frames=1)
    assert (
        _names(v, ids)
        == ("<bos> <boa> audio:0:1 audio:1:4 audio:0:2 audio:1:0 audio:0:3 audio:1:1 <eoa> <eos>").split()
    )
    assert mask.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]  # the prompt frame is not scored
    np.testing.assert_array_equal(sequence.parse_audio(v, ids[1:-1]), AUDIO_CODES)


def test_musicgen_delay_pattern() -> None:
    v = _vocab(audio=DELAYED)
    ids, mask, _ = sequence.speech_continuation(v, AUDIO_CODES)
    # Step s holds codebook 0's frame s and codebook 1's frame s - 1; <pad> where there is none.
    assert (
        _names(v, ids[2:-2])
        == "audio:0:1 <pad> audio:0:2 audio:1:4 audio:0:3 audio:1:0 <pad> audio:1:1".split()
    )
    assert mask[2:].all()
    np.testing.assert_array_equal(sequence.parse_audio(v, ids[1:-1]), AUDIO_CODES)


@pytest.mark.parametrize("audio", [AUDIO, DELAYED], ids=["flatten", "delay"])
def test_every_builder_is_accepted_by_its_rule(audio: MediaCodes) -> None:
    v = _vocab(audio=audio)
    examples = {
        "text_only": sequence.text_only(v, "hello"),
        "class_conditional": sequence.class_conditional(v, 0, GRID),
        "caption_conditional": sequence.caption_conditional(v, "a cat", GRID),
        "interleaved": sequence.interleaved(
            v, ["a", Media("image", GRID), Task("ground"), Box((0, 0.5, 1, 1)), Media("audio", AUDIO_CODES)]
        ),
        "speech_continuation": sequence.speech_continuation(v, AUDIO_CODES),
    }
    for fmt, (ids, *_) in examples.items():
        rule = FormatRule(v, fmt).feed(ids)
        assert rule.done and rule.allowed() == (range(v["<pad>"], v["<pad>"] + 1),), fmt
    assert (
        FormatRule(v, "caption_conditional").feed(sequence.caption_conditional(v, "x", GRID, True).ids).done
    )


def test_rules_refuse_what_breaks_the_format() -> None:
    v = _vocab()
    ids = sequence.class_conditional(v, 1, GRID).ids
    rule = FormatRule(v, "class_conditional").feed(ids[:6])  # <bos> ... <res:2x3> and two codes
    assert rule.allowed() == (v.code_range("image"),)
    rule.advance(ids[6])  # the row's last code: then <eol>, only
    assert rule.allowed() == (range(v["<eol>"], v["<eol>"] + 1),)
    with pytest.raises(InvalidTokensError, match=r"image:0:4 is not allowed at position 7"):
        rule.advance(v.code_range("image")[4])
    with pytest.raises(InvalidTokensError, match="<eos> is not allowed at position 1"):
        FormatRule(v, "class_conditional").feed([v["<bos>"], v["<eos>"]])
    # A fixed audio length ends the span there.
    rule = FormatRule(v, "speech_continuation", audio_frames=1).feed([v["<bos>"], v["<boa>"], 287, 292])
    assert rule.allowed() == (range(v["<eoa>"], v["<eoa>"] + 1),)
    with pytest.raises(InvalidTokensError, match="no format 'poetry'"):
        FormatRule(v, "poetry")


def _random_model(vocab: Vocabulary, block: int = 64) -> Transformer:
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=vocab.size, n_layer=2, n_head=2, d_model=32, block_size=block)
    return Transformer(config)


def _fsq_vocab() -> Vocabulary:
    info = tz.load("image-fsq-f8-4k").info
    codes = MediaCodes("image-fsq-f8-4k", "image", info.vocab_size)
    return Vocabulary(resolutions=((2, 2), (2, 3)), num_classes=3, media=(codes,))


def test_constrained_sampling_of_random_weights_always_decodes() -> None:
    v = _fsq_vocab()
    model = _random_model(v)
    generator = torch.Generator().manual_seed(0)
    prompts = [sequence.image_prompt(v, label, (2, 3)) for label in (0, 1, 2, None)]
    sequences = sample_images(model, v, "class_conditional", prompts, temperature=1.5, generator=generator)
    for ids in sequences:
        assert FormatRule(v, "class_conditional").feed(ids).done
    tok = tz.load("image-fsq-f8-4k")
    images = decode_images(v, sequences, tok)
    assert [im.shape for im in images] == [(16, 24, 3)] * 4
    assert image_grid(images).shape == (32, 48, 3)
    # Without the rules, the same weights do not give an image.
    free = generate(model, torch.from_numpy(prompts[0])[None], 10, temperature=1.5, generator=generator)
    with pytest.raises(InvalidTokensError):
        sequence.parse_image(v, free[0, 2:].numpy())


def test_cfg_at_scale_one_is_conditional_sampling() -> None:
    v = _fsq_vocab()
    model = _random_model(v)
    cond = [sequence.image_prompt(v, 1, (2, 2))] * 2
    uncond = [sequence.image_prompt(v, None, (2, 2))] * 2
    for temperature in (0.0, 1.0):
        plain = sample_images(model, v, "class_conditional", cond, None, 1.0, temperature, generator=_gen())
        guided = sample_images(
            model, v, "class_conditional", cond, uncond, 1.0, temperature, generator=_gen()
        )
        assert all(np.array_equal(a, b) for a, b in zip(plain, guided, strict=True))
    strong = sample_images(model, v, "class_conditional", cond, uncond, 4.0, 0.0)
    assert not all(np.array_equal(a, b) for a, b in zip(plain, strong, strict=True))


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(3)


def test_left_padded_prompts_sample_as_unpadded() -> None:
    model = _random_model(Vocabulary(), block=48)
    short, long = torch.tensor([5, 6, 7]), torch.tensor([1, 2, 3, 4, 5, 6, 7])
    ids, padding = pad_left([short, long], pad=0)
    assert padding.tolist()[0] == [True] * 4 + [False] * 3
    batched = generate(model, ids, 12, temperature=0, padding=padding)
    alone = generate(model, short[None], 12, temperature=0)
    assert torch.equal(batched[0, 4:], alone[0]) and torch.equal(
        batched[1], generate(model, long[None], 12, 0)[0]
    )
    logits = model(ids, padding=padding)[0, 4:]
    torch.testing.assert_close(logits, model(short[None])[0], rtol=1e-4, atol=1e-5)
    uncached = generate(model, ids, 12, temperature=0, padding=padding, use_cache=False)
    assert torch.equal(uncached, batched)


def test_caption_cfg_pads_the_shorter_stream() -> None:
    v = _fsq_vocab()
    model = _random_model(v)
    cond = [sequence.image_prompt(v, "a red photo", (2, 2))] * 2
    uncond = [sequence.image_prompt(v, None, (2, 2))] * 2  # 9 ids shorter: left-padded
    plain = sample_images(model, v, "caption_conditional", cond, None, 1.0, 0.0)
    guided = sample_images(model, v, "caption_conditional", cond, uncond, 1.0, 0.0)
    assert all(np.array_equal(a, b) for a, b in zip(plain, guided, strict=True))
    strong = sample_images(model, v, "caption_conditional", cond, uncond, 3.0, 1.0, generator=_gen())
    assert [im.shape for im in decode_images(v, strong, tz.load("image-fsq-f8-4k"))] == [(16, 16, 3)] * 2
