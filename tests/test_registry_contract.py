"""Every registered entry keeps the registry's promises: it describes itself without being
built, and that description is the built model's; it round-trips a tiny input; and a
checkpoint of it loads in a fresh process with no import beyond ``tokenizers_zoo``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import tokenizers_zoo as tz
from tokenizers_zoo.errors import WeightsNotFoundError
from tokenizers_zoo.tokenizers.adapters import PretrainedAdapter

ROOT = Path(__file__).resolve().parent.parent
#: Adapters of other libraries' published weights are held to the same promises with tiny
#: random models of those libraries, in test_adapters.py: their weights are not on this machine.
NAMES = [n for n in tz.list_tokenizers() if not issubclass(tz.get_entry(n).architecture, PretrainedAdapter)]


def _build(name: str) -> tz.Tokenizer:
    """With its weights when this machine has them (EnCodec's never ship), else random."""
    try:
        return tz.load(name)
    except WeightsNotFoundError:
        return tz.load(name, pretrained=False)


def _tiny_input(info: tz.TokenizerInfo) -> tuple[torch.Tensor, int | None]:
    generator = torch.Generator().manual_seed(0)
    if info.modality == "image":
        return torch.rand(1, 3, 24, 40, generator=generator) * 2 - 1, None
    if info.modality == "video":
        return torch.rand(1, 3, 6, 24, 40, generator=generator) * 2 - 1, None
    rate = info.sample_rate or 16000
    samples = int(0.2 * rate)
    return 0.3 * torch.randn(1, info.channels, samples, generator=generator).clamp(-3, 3) / 3, rate


def test_every_modality_and_kind_that_has_entries_has_a_default() -> None:
    kinds = {(tz.get_entry(n).modality, tz.get_entry(n).kind) for n in NAMES}
    assert kinds <= set(tz.default_tokenizers())


@pytest.mark.parametrize("name", NAMES)
def test_static_info_is_the_built_models_and_it_round_trips(name: str) -> None:
    entry = tz.get_entry(name)
    tok = _build(name)
    assert entry.info == tok.info, "describe() from the config must equal the built model's info"
    assert (entry.modality, entry.kind) == (tok.info.modality, tok.info.kind)
    assert entry.info.description == entry.description != ""

    media, rate = _tiny_input(tok.info)
    tokens = tok.encode(media, sample_rate=rate)
    size = tokens.original_size
    assert tokens.kind == entry.kind
    assert tokens.shape[1:] == tok.token_shape_for(size, tokens.extras)
    back = tok.decode(tokens)
    if entry.modality in ("image", "video"):
        assert back.shape == media.shape
    else:
        assert back.shape[-1] == size[0] and back.shape[1] == tok.info.channels
    assert torch.isfinite(back).all()


def _run(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=240,
        check=False,
    )


def test_a_fresh_process_loads_every_saved_tokenizer(tmp_path: Path) -> None:
    """``save_pretrained`` in one process, ``tz.Tokenizer.from_pretrained`` and ``tz.load(DIR)``
    in another that imports nothing but ``tokenizers_zoo``: the architectures register
    themselves, and the reloaded tokenizers give the same ids and latents."""
    saved = _run(
        f"""
        import json, sys
        import numpy as np, torch
        sys.path.insert(0, {str(ROOT / "tests")!r})
        import tokenizers_zoo as tz
        from test_registry_contract import NAMES, _build, _tiny_input
        out = {{}}
        for name in NAMES:
            tok = _build(name)
            media, rate = _tiny_input(tok.info)
            tok.save_pretrained("saved/" + name)
            np.save(f"saved/{{name}}/input.npy", media.numpy())
            np.save(f"saved/{{name}}/tokens.npy", tok.encode(media, sample_rate=rate).data.float().numpy())
            out[name] = rate
        print(json.dumps(out))
        """,
        tmp_path,
    )
    assert saved.returncode == 0, saved.stderr
    rates = json.loads(saved.stdout)
    assert sorted(rates) == NAMES

    loaded = _run(
        """
        import json, os
        import numpy as np, torch
        import tokenizers_zoo as tz
        bad = []
        for name in sorted(os.listdir("saved")):
            path = "saved/" + name  # not the bare name, which tz.load reads as the registry's entry
            tok, again = tz.Tokenizer.from_pretrained(path), tz.load(path)
            media = torch.from_numpy(np.load(path + "/input.npy"))
            rate = tok.info.sample_rate or (16000 if tok.info.modality == "audio" else None)
            got = tok.encode(media, sample_rate=rate).data.float().numpy()
            pairs = zip(tok.state_dict().values(), again.state_dict().values())
            same = all(torch.equal(a, b) for a, b in pairs)
            expected = np.load(path + "/tokens.npy")
            if {tok.name, again.name} != {name} or not same or not np.array_equal(got, expected):
                bad.append(name)
        print(json.dumps(bad))
        """,
        tmp_path,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == []


def test_tzoo_list_builds_no_model(tmp_path: Path) -> None:
    """Every constructor fails, yet ``tzoo list`` prints every entry with its vocabulary."""
    listed = _run(
        """
        import sys
        import tokenizers_zoo.tokenizer as base

        def refuse(self, *args, **kwargs):
            raise AssertionError("tzoo list built a model")

        base.Tokenizer.__init__ = refuse
        from tokenizers_zoo.cli import main
        code = main(["list"])
        print("JSON", flush=True)
        sys.exit(code or main(["list", "--json"]))
        """,
        tmp_path,
    )
    assert listed.returncode == 0, listed.stderr
    table, as_json = listed.stdout.split("JSON\n")
    rows = {line[2:].split()[0]: line for line in table.splitlines() if line.startswith(("*", " "))}
    assert sorted(rows) == tz.list_tokenizers()
    assert "4375 codes, f8" in rows["image-fsq-f8-4k"]
    assert "12 codebooks of 1024, hop 320" in rows["audio-rvq-16khz"]
    assert "32 codebooks of 1024, hop 320" in rows["audio-encodec-24khz"]
    infos = {info["name"]: info for info in json.loads(as_json)}
    assert infos["image-kl-f8-c16"]["latent_dim"] == 16
    assert infos["audio-mel-80"]["sample_rate"] == 16000


def test_listing_and_the_loaded_model_describe_an_entry_alike() -> None:
    """One place for the description: the entry's, whatever the checkpoint's config says."""
    for name in ("image-kl-f8-c16", "image-fsq-f8-4k", "audio-rvq-16khz"):
        assert tz.load(name).info.description == tz.get_entry(name).description


def test_weights_of_another_kind_are_refused() -> None:
    kl = tz.get_entry("image-kl-f8-c16").weights_path()
    with pytest.raises(tz.CheckpointError, match="continuous image tokenizer"):
        tz.load("image-fsq-f8-4k", weights=kl)


def test_import_contracts_hold() -> None:
    """The one-way layers and the torch-free SDK (pyproject's [tool.importlinter])."""
    checked = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_layers.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in checked.stdout


def test_damaged_weights_are_refused(tmp_path: Path) -> None:
    """Bytes zeroed inside a checkpoint's weights still parse as safetensors; the SHA-256 in
    its config.json catches them."""
    tok = tz.load("image-fsq-f8-4k")
    saved = tok.save_pretrained(tmp_path / "ckpt")
    weights = saved / "model.safetensors"
    assert json.loads((saved / "config.json").read_text())["weights_sha256"]
    data = bytearray(weights.read_bytes())
    middle = len(data) // 2
    data[middle : middle + (1 << 20)] = bytes(1 << 20)
    weights.write_bytes(bytes(data))
    with pytest.raises(tz.CheckpointError, match="SHA-256"):
        tz.load(str(saved))
    with pytest.raises(tz.CheckpointError, match="SHA-256"):
        tz.load("image-fsq-f8-4k", weights=saved)


def test_every_shipped_checkpoint_records_its_hash() -> None:
    for name in NAMES:
        path = tz.get_entry(name).weights_path()
        if path is not None:
            meta = json.loads((path / "config.json").read_text())
            assert len(meta["weights_sha256"]) == 64, name


def test_save_pretrained_keeps_the_training_record(tmp_path: Path) -> None:
    tok = tz.load("image-kl-f8-c16")
    step = tok.training_record["step"]
    assert step > 0
    meta = json.loads((tok.save_pretrained(tmp_path / "again") / "config.json").read_text())
    assert meta["training"]["step"] == step and meta["name"] == "image-kl-f8-c16"
    assert tz.load(str(tmp_path / "again")).training_record["step"] == step


def test_the_catalog_is_the_registry(tmp_path: Path) -> None:
    """``tzoo list`` reads catalog.json; it must say what the live registry says of the
    built-in entries (asked in a fresh process, which holds no entries tests registered).
    After changing a built-in entry, run ``python scripts/write_catalog.py``."""
    live = _run(
        f"""
        import json, sys
        sys.path.insert(0, {str(ROOT / "scripts")!r})
        from write_catalog import registry_catalog
        print(json.dumps(registry_catalog()))
        """,
        tmp_path,
    )
    assert live.returncode == 0, live.stderr
    from tokenizers_zoo.catalog import read_catalog

    assert [entry.to_dict() for entry in read_catalog()] == json.loads(live.stdout), (
        "catalog.json is stale: run python scripts/write_catalog.py"
    )


def test_tzoo_list_and_info_import_no_torch(tmp_path: Path) -> None:
    listed = _run(
        """
        import sys
        from tokenizers_zoo.cli import main
        assert main(["list"]) == 0 and main(["info", "image-fsq-f8-4k", "--json"]) == 0
        heavy = sorted(m for m in ("torch", "numpy", "tokenizers_zoo.tokenizers") if m in sys.modules)
        print("IMPORTED", heavy)
        """,
        tmp_path,
    )
    assert listed.returncode == 0, listed.stderr
    assert "IMPORTED []" in listed.stdout
