"""What several command groups share: exit codes, and checked input and output paths."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tokenizers_zoo.errors import MediaTooLargeError, TokenizersZooError

EXIT_USAGE = 2
#: A command that could not do its work: a bug, or a service that did not answer.
EXIT_FAILURE = 1
#: What a shell reports for a process ended by SIGPIPE (128 + 13), as `cat` would be.
EXIT_BROKEN_PIPE = 141


class UsageError(TokenizersZooError, ValueError):
    """A command line that names a file or folder that cannot be used as it says."""


def check_input(path: str, max_bytes: int) -> None:
    """Refuse what is not a regular file (``/dev/zero`` would never end, a FIFO would hang)
    and files over ``max_bytes``, before anything is read."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path} is not a regular file")
    if info.st_size > max_bytes:
        raise MediaTooLargeError(f"{path} is {info.st_size} bytes, over the limit of {max_bytes}")


def read_input(path: str, max_bytes: int) -> bytes:
    """The bytes of a file that passes ``check_input``."""
    check_input(path, max_bytes)
    try:
        with open(path, "rb") as f:
            return f.read(max_bytes + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def output_path(path: str) -> Path:
    """``path`` if a file can be written there: its folder exists and is writable."""
    out = Path(path)
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {path}: folder {folder} is not writable")
    if out.is_dir():
        raise UsageError(f"cannot write {path}: it is a folder")
    return out
