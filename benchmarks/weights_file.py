"""A metric network's weights file, identified by a digest of its bytes before it is opened.

rFID and rFVD are only comparable with the literature when they come from the one network
everyone uses, and both files are opened by code that runs what they contain (a pickle, a
TorchScript archive). So a file given as such weights is hashed first: the right one is
used, any other refused with what was expected, never run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class MetricWeights:
    """One metric network's weights file: its name, the digest that identifies it, where a
    user names it (a flag, then ``env``) and, for files other tools download, where they
    leave it (``cached``: the candidate paths, looked at in order)."""

    file: str
    expected: str
    digest: Callable[[Path], str]
    digest_name: str
    env: str
    flag: str
    error: type[TokenizersZooError]
    what: str  # how the unavailable-metric reason names the file
    cached: Callable[[], list[Path]] | None = None

    def verify(self, path: str | Path) -> Path:
        """``path`` when its digest is ``expected``; otherwise ``error`` (or
        ``WeightsNotFoundError`` when there is no such file) saying what was expected."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(f"weights file {path} not found (expected {self.file})")
        actual = self.digest(path)
        if actual != self.expected:
            raise self.error(
                f"{path} is not {self.file}: its {self.digest_name} is {actual}, "
                f"{self.file} has {self.expected}; refusing to load it"
            )
        return path

    def find(self, explicit: str | Path | None = None) -> tuple[Path | None, str]:
        """The verified file and ``""``, or ``None`` and why the metric is unavailable.

        Looks at ``explicit`` (the flag), then ``$env``, then the ``cached`` paths; a file
        found in any of them must be the right one."""
        explicit = explicit or os.environ.get(self.env)
        if explicit:
            return self.verify(explicit), ""
        for path in self.cached() if self.cached is not None else []:
            if path.is_file():
                return self.verify(path), ""
        return None, (
            f"{self.what} ({self.digest_name} {self.expected[:16]}...) was not found: pass "
            f"{self.flag} FILE or set {self.env} (nothing is downloaded)"
        )
