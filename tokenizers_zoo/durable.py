"""Files written so that a crash at any moment leaves each one whole, and directory locks.

- A file is written under a temporary name beside it (``NAME.tmp``), flushed to disk and
  renamed over the old one: readers see the old file or the new, never half of one.
- ``locked`` holds an flock on a lock file in a directory for a ``with`` block. The kernel
  drops it when the process ends however it ends, so a killed writer blocks no one.

The trainer's run directory (``training/run_dir.py``) and the token datasets
(``datasets/``) both keep their files this way.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

TMP = ".tmp"


class DirectoryInUse(Exception):
    """Raised by ``locked`` with the holder's pid (or None) when the lock is taken."""

    def __init__(self, holder: int | None) -> None:
        super().__init__(holder)
        self.holder = holder


@contextmanager
def locked(directory: Path, lock_file: str) -> Iterator[int]:
    """Hold ``directory/lock_file``'s flock for the ``with`` block, or raise
    ``DirectoryInUse`` (callers turn it into their own, worded error). Yields the lock's
    file descriptor: a forked child holds the lock too until it closes its copy, so
    children that may outlive this process (worker processes) should close it."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise DirectoryInUse(int(holder) if holder.isdigit() else None) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # only for the holder's message
        yield fd
    finally:
        os.close(fd)  # releases the lock


def write_file(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` a file, then rename it over ``path``."""
    tmp = path.with_name(path.name + TMP)
    write(tmp)
    fsync(tmp)
    os.replace(tmp, path)
    fsync(path.parent)


def write_text(path: Path, text: str) -> None:
    write_file(path, lambda tmp: tmp.write_text(text))


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
