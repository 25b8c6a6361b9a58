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


# Keys of a bootstrap DocType that the code reading definitions relies on.
_BOOTSTRAP_KEYS = ("istable", "issingle", "is_submittable", "autoname", "naming_rule")


def effective_definition(stored: dict) -> dict:
    """The definition to build a Meta from, given one stored in the database.

    Any DocType's stored definition is used as is, bootstrap ones included (an imported
    Frappe ``doctype.json`` adds fields to DocType, and they must be stored like any
    other). For the bootstrap DocTypes, which are needed to read every definition,
    the built-in fields the stored one lacks are kept and the built-in kind and naming
    win, so that no import can make definitions unreadable.
    """
    core = core_definitions().get(stored.get("name")) if stored.get("name") in BOOTSTRAP else None
    if core is None:
        return stored
    fields = [f for f in stored.get("fields") or [] if isinstance(f, dict)]
    have = {f.get("fieldname") for f in fields}
    fields += [f for f in core["fields"] if f.get("fieldname") not in have]
    out = {k: v for k, v in stored.items() if k != "field_order"}
    out.update({k: core.get(k) for k in _BOOTSTRAP_KEYS}, fields=fields)
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
