"""The built-in registry entries as data, for listings that need no torch.

``tzoo list`` and ``tzoo info NAME`` read ``catalog.json`` instead of importing the
tokenizers (importing torch alone takes about a second), so they answer in a tenth of
that. The file is written from the live registry by ``python scripts/write_catalog.py``,
and a test fails whenever the two differ, so it cannot go stale unnoticed. Python callers
use the registry itself (``tz.get_entry(name).info``), which also knows their own entries.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from tokenizers_zoo.errors import UnknownTokenizerError
from tokenizers_zoo.info import TokenizerInfo

CATALOG_FILE = Path(__file__).resolve().parent / "catalog.json"


@dataclasses.dataclass(frozen=True)
class CatalogEntry:
    """``source``: where an adapter entry's published weights are (``HubSource.to_dict()``);
    ``None`` for the zoo's own tokenizers."""

    info: TokenizerInfo
    default: bool
    source: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.info.name

    def to_dict(self) -> dict[str, Any]:
        return {"info": self.info.to_dict(), "default": self.default, "source": self.source}


def read_catalog() -> list[CatalogEntry]:
    """Every built-in entry, sorted by name."""
    fields = {f.name for f in dataclasses.fields(TokenizerInfo)}
    entries = json.loads(CATALOG_FILE.read_text())
    return [
        CatalogEntry(
            TokenizerInfo(**{k: v for k, v in e["info"].items() if k in fields}),
            e["default"],
            e.get("source"),
        )
        for e in entries
    ]


def catalog_entry(name: str) -> CatalogEntry:
    entries = {e.name: e for e in read_catalog()}
    if name not in entries:
        import difflib

        close = difflib.get_close_matches(name, list(entries), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownTokenizerError(f"no tokenizer named {name!r}{hint} Known: {', '.join(entries)}")
    return entries[name]
