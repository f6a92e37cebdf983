"""NTP on token datasets at tiny sizes: the loader (deterministic, resumable, CFG dropout,
format checks), then end to end: a token dataset of generated images, a class-conditional
model trained through the trainer (and resumed bit for bit), sampled with CFG and decoded
to a PNG grid by `tzoo sample`, and the errors a mismatched dataset or bad input give."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import tokenizers_zoo as tz
from tokenizers_zoo.cli import main
from tokenizers_zoo.datasets import TokenDataset, tokenize_dataset
from tokenizers_zoo.media.audio import read_audio, write_wav
from tokenizers_zoo.ntp import sequence
from tokenizers_zoo.ntp.constraints import FormatRule
from tokenizers_zoo.ntp.data import DataConfigError, NTPData, TokenSequences
from tokenizers_zoo.ntp.decode import audio_codes, media_tokenizer, speech_bandwidth
from tokenizers_zoo.ntp.model import Transformer, TransformerConfig
from tokenizers_zoo.ntp.train import load_ntp_config, load_vocabulary, model_config, train
from tokenizers_zoo.ntp.vocabulary import MediaCodes, Vocabulary, VocabularyMismatchError

FAST = {"progress": False, "workers": 0}
BLOCK = 11  # <bos> <class> <boi> <res:2x2>, 2 rows of 2 codes and <eol>, <eoi> <eos>: 12 ids


def _images(folder: Path, count: int) -> None:
    """Two classes a model can tell apart: reddish and bluish noise."""
    rng = np.random.default_rng(0)
    for i in range(count):
        label = "red" if i % 2 else "blue"
        (folder / label).mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 120, (16, 16, 3), dtype=np.uint8)
        pixels[..., 0 if label == "red" else 2] += 130
        Image.fromarray(pixels).save(folder / label / f"{i:03d}.png")


def _tokenized(factory: pytest.TempPathFactory, tokenizer: str, count: int) -> Path:
    """A labelled token dataset of ``count`` generated 16 x 16 images."""
    folder = factory.mktemp(tokenizer)
    _images(folder, count)
    out = folder.parent / f"{folder.name}-tok"
    tokenize_dataset(tokenizer, folder, out, size=16, labels="from-folders", **FAST)
    return out


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tokenized(tmp_path_factory, "image-fsq-f8-4k", 16)


def _loader(path: Path, **fields) -> TokenSequences:
    data = NTPData(kind="tokens", path=str(path), coordinate_bins=0, **fields)
    return TokenSequences(data, block=BLOCK, batch=4, seed=7)


def test_loader_batches_are_deterministic_and_resume_exactly(photos: Path) -> None:
    a, b = _loader(photos), _loader(photos)
    first = [a.next_batch() for _ in range(5)]
    assert all(
        x.inputs.equal(y.inputs) for x, y in zip(first, [b.next_batch() for _ in range(5)], strict=True)
    )
    resumed = _loader(photos)
    resumed.load_state_dict(a.state_dict())
    for _ in range(6):  # across an epoch's end: 14 training items, batches of 4
        x, y = a.next_batch(), resumed.next_batch()
        assert x.inputs.equal(y.inputs) and x.targets.equal(y.targets) and x.mask.equal(y.mask)
    v = a.vocabulary
    batch = first[0]
    assert batch.inputs.shape == (4, BLOCK) and batch.targets[:, :-1].equal(batch.inputs[:, 1:])
    for row, mask in zip(batch.inputs, batch.mask, strict=True):
        ids = [*row.tolist(), int(batch.targets[0, -1])]
        assert FormatRule(v, "class_conditional").feed(ids).done
        assert mask.tolist() == [False] + [True] * (BLOCK - 1)  # the class token is not a target


def test_loader_split_epochs_and_cfg_dropout(photos: Path) -> None:
    loader = _loader(photos, cfg_dropout=0.3)
    train_items, held = set(loader.train_items.tolist()), set(loader.val_items.tolist())
    assert len(held) == 2 and not train_items & held and len(train_items | held) == 16
    epoch = [loader._train_item(i)[0] for i in range(len(train_items))]
    assert sorted(epoch) == sorted(train_items)  # an epoch visits every training item once
    null = loader.vocabulary["<null>"]
    rows = [int(x) == null for _ in range(150) for x in loader.next_batch().inputs[:, 1]]
    assert abs(np.mean(rows) - 0.3) < 0.05
    assert all(int(x) != null for batch in loader.held_out(2) for x in batch.inputs[:, 1])


def test_loader_refuses_data_that_does_not_fit(photos: Path, tmp_path: Path) -> None:
    with pytest.raises(DataConfigError, match="takes audio tokens; .* holds image tokens"):
        _loader(photos, format="speech_continuation")
    with pytest.raises(DataConfigError, match="has no captions"):
        _loader(photos, format="caption_conditional")
    with pytest.raises(DataConfigError, match="model.block_size must be at least 11"):
        TokenSequences(NTPData(kind="tokens", path=str(photos)), block=8, batch=2, seed=0).next_batch()
    with pytest.raises(DataConfigError, match="data.format must be one of"):
        _loader(photos, format="poems")
    partial = tmp_path / "partial"
    shutil.copytree(photos, partial)
    manifest = json.loads((partial / "manifest.json").read_text())
    (partial / "manifest.json").write_text(json.dumps({**manifest, "num_shards": 2}))
    with pytest.raises(
        DataConfigError, match="is not complete .1 of 2 shards.: rerun its tzoo tokenize-dataset"
    ):
        _loader(partial)
    unlabeled = tmp_path / "unlabeled"
    folder = tmp_path / "img"
    _images(folder, 2)
    tokenize_dataset("image-fsq-f8-4k", folder, unlabeled, size=16, **FAST)
    with pytest.raises(DataConfigError, match="has no labels, which class_conditional needs"):
        _loader(unlabeled)


def _entropy(values: np.ndarray) -> float:
    p = np.unique(values, return_counts=True)[1] / values.size
    return float(-(p * np.log2(p)).sum())


def test_held_out_items_from_another_dataset(photos: Path, tmp_path: Path) -> None:
    folder = tmp_path / "other"
    _images(folder, 4)
    other = tmp_path / "other-tok"
    tokenize_dataset("image-fsq-f8-4k", folder, other, size=16, labels="from-folders", **FAST)
    loader = _loader(photos, val_path=str(other))
    assert loader.train_items.tolist() == list(range(16)) and loader.val_items.tolist() == list(range(4))
    (batch,) = loader.held_out(1)
    ds = TokenDataset(other)
    v = loader.vocabulary
    for row, item in zip(batch.inputs, range(4), strict=True):
        np.testing.assert_array_equal(row[4:6].numpy(), v.to_vocab("image", ds[item].ids[0]))
    assert "16 training and 4 held-out items (from " in loader.describe()
    one_class = tmp_path / "red"
    (one_class / "red").mkdir(parents=True)
    shutil.copy(next((folder / "red").iterdir()), one_class / "red")
    tokenize_dataset(
        "image-fsq-f8-4k", one_class, tmp_path / "red-tok", size=16, labels="from-folders", **FAST
    )
    with pytest.raises(DataConfigError, match=r"has the classes \['red'\], data.path .* \['blue', 'red'\]"):
        _loader(photos, val_path=str(tmp_path / "red-tok"))
    palette = tmp_path / "palette-tok"
    tokenize_dataset("image-palette-512", folder, palette, size=16, labels="from-folders", **FAST)
    with pytest.raises(DataConfigError, match="tokenized with another name than data.path"):
        _loader(photos, val_path=str(palette))


def test_unigram_entropy_and_code_targets(photos: Path) -> None:
    loader = _loader(photos)
    ds = TokenDataset(photos)
    codes = np.concatenate([ds[int(i)].ids.reshape(-1) for i in loader.train_items])
    assert loader.unigram_bits() == pytest.approx(_entropy(codes))
    batch = loader.next_batch()
    v = loader.vocabulary
    wanted = np.isin(batch.targets.numpy(), np.array(list(v.code_range("image"))))
    np.testing.assert_array_equal(loader.code_targets(batch.targets).numpy(), wanted)
    assert wanted.sum(axis=1).tolist() == [4] * 4  # a 2 x 2 grid: its <eol>, <eoi>, <eos> are not codes


def _noise_wav(path: Path, samples: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    path.write_bytes(write_wav(0.3 * rng.standard_normal((1, samples)).astype(np.float32), 16000))


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Codes of audio-rvq-16khz (6 kbps: 12 codebooks) of four short noise recordings."""
    folder = tmp_path_factory.mktemp("audio")
    for i, n in enumerate([1600, 2400, 1600, 960]):
        _noise_wav(folder / f"{i}.wav", n, i)
    out = folder.parent / "rvq"
    tokenize_dataset("audio-rvq-16khz", folder, out, **FAST)
    return out


def test_speech_continuation_from_audio_codes(speech: Path) -> None:
    data = NTPData(
        kind="tokens",
        path=str(speech),
        format="speech_continuation",
        codebooks=2,
        audio_layout="delay",
    )
    loader = TokenSequences(data, block=40, batch=3, seed=0)
    v = loader.vocabulary
    assert v.codes("audio").vocab_size == (1024, 1024) and v.resolutions == ()
    ds = TokenDataset(speech)
    for item in range(len(ds)):
        ids = loader.example(ds[item], False).ids
        assert FormatRule(v, "speech_continuation").feed(ids).done
        np.testing.assert_array_equal(sequence.parse_audio(v, ids[1:-1]), ds[item].ids[:2])
    # A recording longer than the block trains on its first frames that fit.
    short = TokenSequences(data, block=20, batch=3, seed=0)
    longest = max(range(len(ds)), key=lambda i: ds[i].ids.shape[1])
    ids = short.example(ds[longest], False).ids
    assert len(ids) <= 21 and ds[longest].ids.shape[1] > 7
    np.testing.assert_array_equal(sequence.parse_audio(v, ids[1:-1]), ds[longest].ids[:2, :7])
    # Unigram entropy per codebook, weighed by its share of the scored codes.
    kept = [ds[int(i)].ids[:2, : short._frames_that_fit()] for i in short.train_items]
    per_book = [np.concatenate([k[book] for k in kept]) for book in range(2)]
    assert short.unigram_bits() == pytest.approx(np.mean([_entropy(c) for c in per_book]))


@pytest.mark.parametrize("layout", ["flatten", "delay"])
def test_speech_continuation_samples_a_wav(speech: Path, tmp_path: Path, layout: str, capsys) -> None:  # noqa: ANN001
    config = tmp_path / "speech.yaml"
    config.write_text(
        "name: tiny-speech\n"
        f"data: {{kind: tokens, path: {speech}, format: speech_continuation, codebooks: 3, "
        f"audio_layout: {layout}, coordinate_bins: 0, val_fraction: 0.25}}\n"
        "model: {n_layer: 2, n_head: 2, d_model: 32, block_size: 48}\n"
        "optim: {max_steps: 6, warmup_steps: 2, batch_size: 2}\n"
        f"run: {{dir: {tmp_path / 'run'}, eval_every: 6, eval_batches: 1, checkpoint_every: 6}}\n"
    )
    assert main(["train-ntp", "--config", str(config)]) == 0
    prompt = tmp_path / "prompt.wav"
    _noise_wav(prompt, 1600, 9)  # 0.1 s: 5 frames of 20 ms
    out = tmp_path / "more.wav"
    run = str(tmp_path / "run")
    capsys.readouterr()
    argv = [
        "sample",
        "--checkpoint",
        run,
        "--audio",
        str(prompt),
        "--seconds",
        "0.1",
        "-n",
        "2",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "2 continuation(s) of 0.10 s of speech" in said and "3 codebooks at 1.5 kbps" in said
    for path in (tmp_path / "more_0.wav", tmp_path / "more_1.wav"):
        samples, rate = read_audio(path.read_bytes())
        assert rate == 16000 and 1600 < samples.shape[-1] <= 3200
    tok = tz.load("audio-rvq-16khz")
    v = load_vocabulary(tmp_path / "run")
    codes = audio_codes(v, read_audio(prompt.read_bytes())[0], 16000, tok)
    assert codes.shape == (3, 5)  # the prompt as the data held it: 6 kbps codes, the first 3
    cases = [
        (["--audio", str(prompt)], "-o OUT.wav"),
        (
            ["--audio", str(prompt), "--class", "1", "-o", str(out)],
            "it takes audio, not a class",
        ),
        (["--audio", str(prompt), "-o", str(tmp_path / "x.png")], "decode to"),
        (["--audio", str(tmp_path / "none.wav"), "-o", str(out)], "cannot read"),
        (
            ["--audio", str(prompt), "--seconds", "60", "-o", str(out)],
            "shorten the prompt or the continuation",
        ),
    ]
    for extra, message in cases:
        assert main(["sample", "--checkpoint", run, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("tzoo: error:") and message in err and err.count("\n") == 1, err


def test_a_speech_model_the_codec_cannot_decode_is_refused(speech: Path) -> None:
    data = NTPData(kind="tokens", path=str(speech), format="speech_continuation", codebooks=2)
    vocab = TokenSequences(data, block=40, batch=3, seed=0).vocabulary
    with pytest.raises(
        VocabularyMismatchError, match=r"uses 2 codebooks of audio-rvq-16khz, which decodes 3 \(1.5"
    ):
        speech_bandwidth(vocab, tz.load("audio-rvq-16khz"))


def _config(tmp_path: Path, dataset: Path, run: str, steps: int = 40) -> Path:
    config = tmp_path / f"{run}.yaml"
    config.write_text(
        "name: tiny-class-cond\n"
        f"data: {{kind: tokens, path: {dataset}, format: class_conditional, coordinate_bins: 0}}\n"
        f"model: {{n_layer: 2, n_head: 2, d_model: 32, block_size: {BLOCK}}}\n"
        f"optim: {{max_steps: {steps}, warmup_steps: 5, batch_size: 4, lr: 3.0e-3}}\n"
        f"run: {{dir: {tmp_path / run}, eval_every: 10, eval_batches: 1, checkpoint_every: 10}}\n"
    )
    return config


def test_class_conditional_end_to_end(photos: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    whole = load_ntp_config(_config(tmp_path, photos, "whole"))
    train(whole, log=lambda line: None)
    pieces = load_ntp_config(_config(tmp_path, photos, "pieces"))
    train(pieces, until=20, log=lambda line: None)
    train(pieces, log=lambda line: None)
    log = (tmp_path / "whole" / "log.jsonl").read_text()
    assert (tmp_path / "pieces" / "log.jsonl").read_text() == log  # resumed bit for bit
    records = [json.loads(line) for line in log.splitlines()]
    assert records[-1]["loss"] < records[0]["loss"]
    assert 0 < records[-1]["val_code_bits"] and "val_code_bits" not in records[0]
    run = str(tmp_path / "whole")
    meta = json.loads((tmp_path / "whole" / "config.json").read_text())
    assert meta["format"] == "class_conditional" and meta["labels"] == ["blue", "red"]

    out = tmp_path / "grid.png"
    argv = ["sample", "--checkpoint", run, "--class", "red", "--cfg", "2.0", "-n", "4", "-o", str(out)]
    assert main([*argv, "--seed", "1"]) == 0
    assert "4 2x2-token images (class 1, cfg 2.0)" in capsys.readouterr().out
    assert Image.open(out).size == (32, 32)  # a 2 x 2 grid of 16 x 16 images
    assert main(["sample", "--checkpoint", run, "--class", "0", "-o", str(tmp_path / "one.png")]) == 0
    assert Image.open(tmp_path / "one.png").size == (16, 16)
    capsys.readouterr()

    cases = [
        (["--class", "7", "-o", str(out)], "class 7 is outside this vocabulary's 0..1"),
        (["--class", "green", "-o", str(out)], "not a class id or name (names: blue, red)"),
        (["--class", "1"], "-o OUT.png"),
        (["--prompt", "hi", "-o", str(out)], "--prompt is for text and caption models"),
        (["--cfg", "2", "-o", str(out)], "cfg guides towards the class: give one"),
        (["--class", "1", "--resolution", "9x9", "-o", str(out)], "no resolution token for a 9x9 grid"),
        (["--class", "1", "-o", str(tmp_path / "x.wav")], "decode to"),
        (["--class", "1", "-n", "0", "-o", str(out)], "-n must be at least 1"),
    ]
    for extra, message in cases:
        assert main(["sample", "--checkpoint", run, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("tzoo: error:") and message in err and err.count("\n") == 1, err


def test_a_2d_rope_model_trains_and_samples(photos: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    config = _config(tmp_path, photos, "rope2d", steps=10)
    assert main(["train-ntp", "--config", str(config), "model.rope=2d"]) == 0
    run = tmp_path / "rope2d"
    assert json.loads((run / "config.json").read_text())["model"]["rope"] == "2d"
    capsys.readouterr()
    out = tmp_path / "rope2d.png"
    argv = ["sample", "--checkpoint", str(run), "--class", "0", "--cfg", "2", "-n", "2", "-o", str(out)]
    assert main(argv) == 0
    assert Image.open(out).size == (32, 16)


@pytest.fixture(scope="module")
def latent_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tokenized(tmp_path_factory, "image-kl-f8-c16", 8)


def test_continuous_latents_become_placeholders_with_vectors(latent_photos: Path) -> None:
    loader = _loader(latent_photos)
    v, ds = loader.vocabulary, TokenDataset(latent_photos)
    assert v.codes("image").latent_dim == 16 and v.codes("image").vocab_size == (1,)
    (placeholder,) = v.latent_tokens()
    batch = loader.held_out(1)[0]
    sequence_ids = torch.cat([batch.inputs, batch.targets[:, -1:]], 1)
    assert batch.latents.present.equal(sequence_ids == placeholder)
    assert int(batch.latents.present[0].sum()) == 4  # a 2 x 2 grid
    first = ds[int(loader.val_items[0])].latents.reshape(4, 16)
    np.testing.assert_array_equal(batch.latents.values[0][batch.latents.present[0]].numpy(), first)
    assert FormatRule(v, "class_conditional").feed(sequence_ids[0].tolist()).done
    with pytest.raises(DataConfigError, match="data.codebooks is for discrete codes"):
        _loader(latent_photos, codebooks=2)


@pytest.mark.parametrize("head", ["diffusion", "mse"])
def test_continuous_class_conditional_end_to_end(
    latent_photos: Path, tmp_path: Path, head: str, capsys
) -> None:  # noqa: ANN001
    latent = f"model.latent={{head: {head}, width: 32, depth: 2, sample_steps: 20}}"
    config = _config(tmp_path, latent_photos, "whole", steps=20)
    train(load_ntp_config(config, [latent]), log=lambda line: None)
    pieces = load_ntp_config(config, [latent, f"run.dir={tmp_path / 'pieces'}"])
    train(pieces, until=10, log=lambda line: None)
    train(pieces, log=lambda line: None)
    log = (tmp_path / "whole" / "log.jsonl").read_text()
    assert (tmp_path / "pieces" / "log.jsonl").read_text() == log  # the head's noise resumes too
    records = [json.loads(line) for line in log.splitlines()]
    assert "val_loss" in records[-1] and "val_bits_per_token" not in records[-1]
    meta = json.loads((tmp_path / "whole" / "config.json").read_text())
    assert meta["model"]["latent"]["dim"] == 16 and meta["model"]["latent"]["head"] == head
    out = tmp_path / "latent.png"
    argv = ["sample", "--checkpoint", str(tmp_path / "whole"), "--class", "red", "--cfg", "2", "-n", "2"]
    assert main([*argv, "-o", str(out)]) == 0
    assert "2 2x2-token images (class 1, cfg 2.0)" in capsys.readouterr().out
    assert Image.open(out).size == (32, 16)


def test_a_dataset_of_another_tokenizer_is_refused(photos: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    config = _config(tmp_path, photos, "run", steps=10)
    assert main(["train-ntp", "--config", str(config)]) == 0
    capsys.readouterr()
    folder = tmp_path / "img"
    _images(folder, 4)
    palette = tmp_path / "palette"
    tokenize_dataset("image-palette-512", folder, palette, size=4, labels="from-folders", **FAST)
    argv = ["train-ntp", "--config", str(config), f"data.path={palette}", "optim.max_steps=20"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "vocabulary was built for image codes with tokenizer image-fsq-f8-4k" in err
    assert "image-palette-512" in err and err.count("\n") == 1
    assert main(["train-ntp", "--config", str(config), "model.latent={head: mse}", "--restart"]) == 2
    assert "model.latent is for continuous tokens" in capsys.readouterr().err
    # A vocabulary file changed after training is refused rather than read as another layout.
    vocab_file = tmp_path / "run" / "vocabulary.json"
    data = json.loads(vocab_file.read_text())
    vocab_file.write_text(json.dumps({**data, "num_classes": 3}))
    assert (
        main(["sample", "--checkpoint", str(tmp_path / "run"), "--class", "1", "-o", str(tmp_path / "a.png")])
        == 2
    )
    assert "does not match its file" in capsys.readouterr().err


def test_decoding_with_other_weights_is_refused() -> None:
    v = Vocabulary(resolutions=((2, 2),), media=(MediaCodes("image-fsq-f8-4k", "image", (4375,), "0" * 64),))
    with pytest.raises(VocabularyMismatchError, match="would decode them as other media"):
        media_tokenizer(v, "image")


def test_the_photo_config_fits_its_data() -> None:
    cfg = load_ntp_config(Path(__file__).resolve().parent.parent / "configs/ntp/photos-class-cond.yaml")
    info = tz.load("image-fsq-f8-4k").info
    codes = MediaCodes("image-fsq-f8-4k", "image", info.vocab_size)
    v = Vocabulary(resolutions=((16, 16),), num_classes=3, media=(codes,))
    grid = np.zeros(info.token_shape((128, 128)), dtype=np.int64)
    assert cfg.model["block_size"] == len(sequence.class_conditional(v, 0, grid).ids) - 1
    params = Transformer(TransformerConfig(vocab_size=v.size, **cfg.model)).num_parameters()
    assert 9e6 < params < 12e6


def test_the_speech_config_decodes_at_one_and_a_half_kbps() -> None:
    cfg = load_ntp_config(Path(__file__).resolve().parent.parent / "configs/ntp/speech-continuation.yaml")
    tok = tz.load("audio-rvq-16khz")
    codes = MediaCodes("audio-rvq-16khz", "audio", tok.info.vocab_size[: cfg.data.codebooks])
    assert speech_bandwidth(Vocabulary(media=(codes,)), tok) == 1.5


def test_the_latent_photo_config_fits_its_data() -> None:
    cfg = load_ntp_config(Path(__file__).resolve().parent.parent / "configs/ntp/photos-latent-diffusion.yaml")
    info = tz.load("image-kl-f8-c16").info
    codes = MediaCodes("image-kl-f8-c16", "image", (1,), latent_dim=info.latent_dim)
    v = Vocabulary(resolutions=((16, 16),), num_classes=3, media=(codes,))
    latents = np.zeros((*info.token_shape((128, 128))[:2], info.latent_dim), dtype=np.float32)
    assert cfg.model["block_size"] == len(sequence.class_conditional(v, 0, latents).ids) - 1
    model = Transformer(model_config(cfg.model, v))
    assert model.config.latent.dim == 16 and model.config.latent.sample_steps == 100
