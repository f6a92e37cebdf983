"""The run directory's files, written so that a crash at any moment leaves each one whole.

A run directory holds ``config.json`` (the recipe), ``train_state.pt`` (all a resume
needs), ``log.jsonl`` and ``export/`` (the EMA weights as a loadable checkpoint).

- A file is written under a temporary name beside it (``NAME.tmp``), flushed to disk
  and renamed over the old one: readers see the old file or the new, never half of one.
- ``export/`` is a directory, which one rename cannot replace: the new export is
  written to ``export.new/``, the old one renamed to ``export.old/``, the new one
  renamed in and the old one deleted. At every moment ``export/`` or, for the instant
  between the two renames, ``export.old/`` is a complete export, and ``recover`` (run at
  each start) moves ``export.old/`` back if ``export/`` is missing.
- One trainer at a time: ``locked`` holds an flock on ``train.lock``. The kernel
  drops it when the process ends however it ends, so a killed trainer blocks no one.

The file-level helpers and the lock live in ``tokenizers_zoo.durable``, shared with the
token datasets.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tokenizers_zoo import durable
from tokenizers_zoo.durable import TMP, DirectoryInUse
from tokenizers_zoo.errors import TokenizersZooError

LOCK_FILE = "train.lock"
NEW, OLD = ".new", ".old"


class RunDirInUseError(TokenizersZooError, RuntimeError):
    """Another trainer holds the run directory."""


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's lock for the ``with`` block, or raise ``RunDirInUseError``."""
    try:
        with durable.locked(run_dir, LOCK_FILE):
            yield
    except DirectoryInUse as exc:
        by = f" (pid {exc.holder})" if exc.holder is not None else ""
        raise RunDirInUseError(
            f"run dir {run_dir} is in use by another trainer{by}; "
            "wait for it to end, stop it, or pass --run-dir"
        ) from None


def recover(run_dir: Path) -> list[str]:
    """Undo what a crash left behind: put ``export.old/`` back where ``export/`` is
    missing, delete temporaries. Returns the names removed or restored."""
    done = []
    for old in sorted(run_dir.glob("*" + OLD)):
        target = old.with_name(old.name.removesuffix(OLD))
        if not target.exists():
            os.rename(old, target)
            done.append(f"{old.name} -> {target.name}")
    for stale in sorted([*run_dir.glob("*" + TMP), *run_dir.glob("*" + NEW), *run_dir.glob("*" + OLD)]):
        _remove(stale)
        done.append(stale.name)
    return done


write_file, write_text = durable.write_file, durable.write_text


def replace_dir(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp_dir)`` a directory's files, then swap it in for ``path`` (see the module's doc)."""
    new, old = path.with_name(path.name + NEW), path.with_name(path.name + OLD)
    _remove(new)
    new.mkdir()
    write(new)
    for file in new.iterdir():
        _fsync(file)
    _fsync(new)
    if path.exists():
        _remove(old)
        os.rename(path, old)
    os.rename(new, path)
    _fsync(path.parent)
    _remove(old)


def truncate_log(path: Path, step: int) -> int:
    """Drop the records of ``log.jsonl`` after ``step`` (and a line cut short by a kill),
    so that a resumed run logs each step once. Returns how many lines were dropped."""
    if not path.is_file():
        return 0
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.endswith("\n") and _logged_step(line) <= step]
    if len(kept) < len(lines):
        write_text(path, "".join(kept))
    return len(lines) - len(kept)


def _logged_step(line: str) -> float:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return math.inf


_fsync, _remove = durable.fsync, durable.remove
