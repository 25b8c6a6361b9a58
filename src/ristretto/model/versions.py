"""Version records: the diff of each save of a DocType with ``track_changes``.

A Version document holds Frappe's diff format as JSON in ``data``:
``{"changed": [[field, old, new]], "added": [[table, row]], "removed": [[table, row]],
"row_changed": [[table, idx, row_name, [[field, old, new]]]]}``. It is written in the
same transaction as the save, so a rolled-back save leaves no Version behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from ristretto.meta.doctype import CHILD_FIELDS, STANDARD_FIELDS
from ristretto.model.writeplan import write_plan

if TYPE_CHECKING:
    from ristretto.model.context import Context
    from ristretto.model.document import Document

_SKIP = frozenset(STANDARD_FIELDS) | frozenset(CHILD_FIELDS)


def _changes(old: dict, new: dict, fields) -> list[list[Any]]:
    return [[f, old.get(f), new.get(f)] for f in fields
            if f not in _SKIP and old.get(f) != new.get(f)]


def diff(previous: "Document", doc: "Document") -> dict[str, list] | None:
    meta = doc.meta
    compared = write_plan(meta).compared  # the data fields, stamps left out
    old, new = previous.d, doc.d
    changed = [[f, a, b] for f, a, b in zip(compared, map(old.get, compared), map(new.get, compared)) if a != b]
    out: dict[str, list] = {"changed": changed,
                            "added": [], "removed": [], "row_changed": []}
    for tf in meta.table_fields:
        before = {r.name: r for r in previous.children.get(tf.fieldname, [])}
        after = {r.name: r for r in doc.children.get(tf.fieldname, [])}
        for name, row in after.items():
            if name not in before:
                out["added"].append([tf.fieldname, row.as_dict()])
            else:
                fields = [f.fieldname for f in row.meta.data_fields]
                changed = _changes(before[name].d, row.d, fields)
                if changed:
                    out["row_changed"].append([tf.fieldname, row.d.get("idx"), name, changed])
        for name, row in before.items():
            if name not in after:
                out["removed"].append([tf.fieldname, row.as_dict()])
    if not any(out.values()):
        return None
    return out


def record(ctx: "Context", previous: "Document", doc: "Document") -> None:
    """Write a Version for this save when the DocType tracks changes and something changed."""
    if not doc.meta.track_changes or ctx.find_meta("Version") is None or doc.meta.name == "Version":
        return
    changes = diff(previous, doc)
    if changes is None:
        return
    from ristretto.model.document import insert_record
    insert_record(ctx, "Version", {"ref_doctype": doc.meta.name, "docname": str(doc.name),
                                    "data": orjson.dumps(changes, default=str,
                                                         option=orjson.OPT_INDENT_2).decode()},
                  later=True)  # a random name: nothing to learn from the insert before the commit
