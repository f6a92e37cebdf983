"""Another library's published weights as data (``HubSource``: a Hugging Face hub repository,
revision, files, licence) and whether this machine's Hugging Face cache holds them.

Torch-free and without the optional libraries until asked: ``tzoo list --all`` reads the
sources from the catalog and asks the cache (huggingface_hub's ``try_to_load_from_cache``,
imported then), and the adapters' weight resolution (``tokenizers/adapters/hub.py``) starts
from the same lookup.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tokenizers_zoo.errors import MissingExtraError

EXTRA = "hf"
SHARD_INDEX = "model.safetensors.index.json"


@dataclass(frozen=True)
class HubSource:
    """Published weights: ``files`` are paths inside the repository (``subfolder`` is the
    folder the library loads from, e.g. ``vae`` inside a diffusion pipeline's repository).
    ``revision`` is the branch or commit the entry was written against."""

    repository: str
    revision: str
    files: tuple[str, ...]
    licence: str
    subfolder: str = ""
    #: Set when the model is part of a larger sharded checkpoint (Emu3's VQ inside Emu3): the
    #: entry also needs the shards ``model.safetensors.index.json`` (one of ``files``) maps
    #: the tensors whose names contain this to, and no other shard.
    shards_of: str = ""

    @classmethod
    def from_config(cls, config: Any) -> HubSource:
        """The source an adapter config records (its fields of the same names)."""
        return cls(
            config.repository,
            config.revision,
            tuple(config.files),
            config.licence,
            config.subfolder,
            config.shards_of,
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "files": list(self.files)}

    def describe(self) -> str:
        return f"{self.repository} at revision {self.revision} ({', '.join(self.files)})"


def require(module: str, name: str) -> Any:
    """Import an optional library, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{name} wraps {module}, which is not installed: pip install 'tokenizers-zoo[{EXTRA}]'"
        ) from exc


def hub_cache() -> Path:
    """The Hugging Face cache directory, read from the environment at each call (so a
    changed ``HF_HOME`` counts even after huggingface_hub was imported)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "huggingface"
    return Path(home).expanduser() / "hub"


def cached_directory(source: HubSource, name: str) -> Path | None:
    """The cached snapshot's ``subfolder`` when every file of ``source`` is in the cache, else ``None``."""
    hub = require("huggingface_hub", name)
    where = {"cache_dir": hub_cache(), "revision": source.revision}
    found = []
    for file in source.files:
        path = hub.try_to_load_from_cache(source.repository, file, **where)
        if not isinstance(path, str):  # None (unknown) or the "known to be missing" marker
            return None
        found.append(Path(path))
    snapshot = found[0].parents[len(Path(source.files[0]).parts) - 1]
    for shard in needed_shards(source, snapshot):
        if not isinstance(hub.try_to_load_from_cache(source.repository, shard, **where), str):
            return None
    return snapshot / source.subfolder if source.subfolder else snapshot


def needed_shards(source: HubSource, snapshot: Path) -> list[str]:
    """The shards of a sharded checkpoint that hold the tensors ``source.shards_of`` names
    (none unless it is set), read from the index file in ``snapshot``."""
    if not source.shards_of:
        return []
    index = json.loads((snapshot / source.subfolder / SHARD_INDEX).read_text())
    shards = {file for key, file in index["weight_map"].items() if source.shards_of in key}
    return sorted(f"{source.subfolder}/{file}" if source.subfolder else file for file in shards)
