"""A metric network's weights file, identified by a digest of its bytes before it is opened.

rFID and rFVD are only comparable with the literature when they come from the one network
everyone uses, and both files are opened by code that runs what they contain (a pickle, a
TorchScript archive). So a file given as such weights is hashed first: the right one is
used, any other refused with what was expected, never run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from tokenizers_zoo.errors import TokenizersZooError, WeightsNotFoundError


class MetricWeightsError(TokenizersZooError, ValueError):
    """A file given as a metric network's weights that is not that file."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_blob_id(path: Path) -> str:
    """The id git gives the file's bytes (``git hash-object FILE``): SHA-1 of a ``blob <size>``
    header and the bytes, for files whose only public record is a repository that holds them."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_weights_file(
    path: str | Path,
    *,
    expected_name: str,
    expected: str,
    digest: Callable[[Path], str],
    digest_name: str,
    error: type[TokenizersZooError],
) -> Path:
    """``path`` when its ``digest`` is ``expected``; otherwise ``error`` (or
    ``WeightsNotFoundError`` when there is no such file) saying what was expected."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file {path} not found (expected {expected_name})")
    actual = digest(path)
    if actual != expected:
        raise error(
            f"{path} is not {expected_name}: its {digest_name} is {actual}, "
            f"{expected_name} has {expected}; refusing to load it"
        )
    return path
