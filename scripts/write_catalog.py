"""Write tokenizers_zoo/catalog.json from the live registry (what `tzoo list` reads).

Run it after adding or changing a built-in registry entry; tests/test_registry_contract.py
fails until the file matches the registry again."""

from __future__ import annotations

import json
import sys

import tokenizers_zoo as tz
from tokenizers_zoo.catalog import CATALOG_FILE, CatalogEntry
from tokenizers_zoo.tokenizers.adapters.pretrained import PretrainedAdapter, entry_source


def registry_catalog() -> list[dict]:
    defaults = set(tz.default_tokenizers().values())
    entries = []
    for name in tz.list_tokenizers():
        entry = tz.get_entry(name)
        adapter = issubclass(entry.architecture, PretrainedAdapter)
        source = entry_source(entry).to_dict() if adapter else None
        entries.append(CatalogEntry(entry.info, name in defaults, source))
    return [entry.to_dict() for entry in entries]


if __name__ == "__main__":
    CATALOG_FILE.write_text(json.dumps(registry_catalog(), indent=1) + "\n")
    print(f"wrote {len(registry_catalog())} entries to {CATALOG_FILE}", file=sys.stderr)
