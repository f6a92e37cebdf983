"""Where the published weights of another library's tokenizer are found: the one resolution
every adapter entry shares, and ``tzoo fetch``, the one place that downloads.

An entry names a Hugging Face hub repository, a revision, the files it needs and their
licence (``tokenizers_zoo.published.HubSource``). ``resolve`` finds them without touching
the network, in order:

1. ``weights=`` given to ``tz.load`` (``--weights`` in ``tzoo``): a directory in the
   library's own layout (what its ``save_pretrained`` writes, or a hub snapshot; the
   entry's ``subfolder`` inside it is tried too), or a file in such a directory. A path
   that was named and holds nothing is an error, not a reason to look elsewhere.
2. The Hugging Face cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
   ``~/.cache/huggingface/hub``), read with huggingface_hub's own lookup
   (``try_to_load_from_cache``), so a machine that has run the library has the files.

Otherwise ``WeightsNotFoundError`` names the repository, revision and files, and the
``tzoo fetch NAME`` command that downloads them (``fetch``, on a machine that is online).
So loading never downloads, whatever ``HF_HUB_OFFLINE`` says.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tokenizers_zoo.errors import WeightsNotFoundError
from tokenizers_zoo.published import HubSource, cached_directory, hub_cache, needed_shards, require

LIBRARY_CONFIG = "config.json"


def resolve(source: HubSource, weights: Path | None, name: str) -> Path:
    """The directory the library loads ``name``'s model from, found as the module says."""
    if weights is not None:
        return _named(source, weights, name)
    cached = cached_directory(source, name)
    if cached is not None:
        return cached
    offline = " (HF_HUB_OFFLINE is set: run it on a machine that is online)" if _offline() else ""
    raise WeightsNotFoundError(
        f"{name} needs {source.describe()} from the Hugging Face hub, and they are not in the "
        f"cache at {hub_cache()}. Download them once with `tzoo fetch {name}`{offline}, or pass "
        f"weights=DIR (tzoo: --weights DIR) with the library's save_pretrained files"
    )


def fetch(source: HubSource, name: str) -> Path:
    """Download ``source``'s files into the Hugging Face cache (the only code that
    downloads; ``tzoo fetch NAME`` calls it) and return the directory ``resolve`` will find."""
    hub = require("huggingface_hub", name)
    if _offline():
        raise WeightsNotFoundError(f"cannot fetch {name}: HF_HUB_OFFLINE is set (unset it to download)")
    try:
        snapshot = Path(_download(hub, source, list(source.files)))
        shards = needed_shards(source, snapshot)  # read from the index just downloaded
        if shards:
            _download(hub, source, shards)
    except Exception as exc:  # network, authentication (gated repositories), a missing revision
        raise WeightsNotFoundError(f"downloading {source.describe()} for {name} failed: {exc}") from exc
    directory = snapshot / source.subfolder if source.subfolder else snapshot
    missing = [f for f in (*source.files, *shards) if not (snapshot / f).is_file()]
    if missing:
        raise WeightsNotFoundError(f"{source.repository} at {source.revision} has no {', '.join(missing)}")
    return directory


def _download(hub: Any, source: HubSource, files: list[str]) -> str:
    return hub.snapshot_download(
        source.repository, revision=source.revision, allow_patterns=files, cache_dir=hub_cache()
    )


def _named(source: HubSource, weights: Path, name: str) -> Path:
    directory = weights.parent if weights.is_file() else weights
    candidates = [directory / source.subfolder, directory] if source.subfolder else [directory]
    for candidate in candidates:
        if (candidate / LIBRARY_CONFIG).is_file():
            return candidate
    raise WeightsNotFoundError(
        f"{weights} holds no weights for {name}: expected a directory with the library's "
        f"{LIBRARY_CONFIG} and weights (its save_pretrained output, or a snapshot of {source.repository})"
    )


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
