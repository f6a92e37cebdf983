"""Where EnCodec's published checkpoints are found on this machine, and fetched only when asked.

The project's rule is that nothing downloads at run time, and the ``encodec`` package's
own loader downloads whenever its file is missing. So we look for the file under the
name encodec publishes it as (``encodec_24khz-d7cc33bc.th``), in this order:

1. ``weights=`` given to ``tz.load`` (or the entry's): that file, or in that directory
   the file (or a ``model.safetensors`` written by ``save_pretrained``). A path that was
   named and holds nothing is an error, not a reason to look elsewhere.
2. The entry config's ``repository`` directory, then ``$TZOO_ENCODEC_DIR``.
3. torch hub's checkpoint cache (``torch.hub.get_dir()/checkpoints``), where
   ``encodec``'s own download puts the file, so a machine that ran encodec has it.
4. Only with ``TZOO_ALLOW_DOWNLOAD=1``: encodec's URL, into that cache, checking the
   SHA-256 prefix in the file name as encodec does.

Local files are not checksummed: a fine-tuned checkpoint kept under the same name loads.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from encodec.model import ROOT_URL

from tokenizers_zoo.errors import WeightsNotFoundError
from tokenizers_zoo.tokenizer import WEIGHTS_FILE

ENV_DIR = "TZOO_ENCODEC_DIR"
ENV_DOWNLOAD = "TZOO_ALLOW_DOWNLOAD"


def hub_checkpoints() -> Path:
    """torch hub's download cache (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_checkpoint(file_name: str, weights: Path | None, repository: str | None) -> Path:
    """The path of ``file_name`` (an encodec checkpoint name), searched as the module says."""
    if weights is not None:
        return _named(file_name, weights)
    directories = [Path(d).expanduser() for d in (repository, os.environ.get(ENV_DIR)) if d]
    directories.append(hub_checkpoints())
    for directory in directories:
        if (directory / file_name).is_file():
            return directory / file_name
    if os.environ.get(ENV_DOWNLOAD, "").lower() in ("1", "true", "yes"):
        return _download(file_name)
    searched = ", ".join(str(d) for d in directories)
    raise WeightsNotFoundError(
        f"EnCodec checkpoint {file_name} not found (searched {searched}). Put it in one of those "
        f"directories or in ${ENV_DIR}, pass weights=FILE_OR_DIR (tzoo: --weights), or set "
        f"{ENV_DOWNLOAD}=1 to fetch it once from {ROOT_URL}{file_name}"
    )


def _named(file_name: str, weights: Path) -> Path:
    if weights.is_file():
        return weights
    for candidate in (weights / file_name, weights / WEIGHTS_FILE):
        if candidate.is_file():
            return candidate
    raise WeightsNotFoundError(
        f"{weights} holds no EnCodec weights: expected the file itself, or a directory with "
        f"{file_name} (encodec's checkpoint) or {WEIGHTS_FILE} (save_pretrained)"
    )


def _download(file_name: str) -> Path:
    target = hub_checkpoints() / file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    checksum = Path(file_name).stem.split("-")[1]
    try:
        torch.hub.download_url_to_file(ROOT_URL + file_name, str(target), hash_prefix=checksum)
    except (OSError, RuntimeError) as exc:  # no network, or a checksum mismatch
        raise WeightsNotFoundError(f"downloading {ROOT_URL}{file_name} failed: {exc}") from exc
    return target
