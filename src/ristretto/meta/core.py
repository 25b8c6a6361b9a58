"""The built-in DocType definitions every site starts with (JSON files beside this module)."""

from __future__ import annotations

import functools
from pathlib import Path

import orjson

CORE_DIR = Path(__file__).parent / "core_doctypes"

# DocTypes needed to read DocType definitions out of the database.
BOOTSTRAP = ("DocType", "DocField", "DocPerm")


@functools.cache
def core_definitions() -> dict[str, dict]:
    """Name -> definition of every built-in DocType."""
    out: dict[str, dict] = {}
    for path in sorted(CORE_DIR.glob("*.json")):
        d = orjson.loads(path.read_bytes())
        out[d["name"]] = d
    return out


def load_definition_file(path: Path) -> dict:
    """Read one Frappe DocType JSON export; raises ValueError with a readable reason."""
    try:
        d = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(d, dict) or not d.get("name"):
        raise ValueError(f"{path}: not a DocType definition (no 'name')")
    if d.get("doctype") not in (None, "DocType"):
        raise ValueError(f"{path}: not a DocType definition (doctype is {d.get('doctype')!r})")
    return d
