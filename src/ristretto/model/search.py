"""Link search: the rows a Link field's autocomplete offers (``search_link``, API v2
``/doctype/<dt>/search``).

Matches ``txt`` anywhere in the name, the title field and the DocType's ``search_fields``
(any of them), within ``filters``, through the ordinary permission-checked listing: a user
finds only documents they may list. Each row becomes ``{"value": name, "label": title,
"description": "<search field values, comma separated>"}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ristretto.exceptions import ValidationError
from ristretto.model import listing

if TYPE_CHECKING:
    from ristretto.model.context import Context

# The text a search may match: names and titles are short; longer text is a client error.
MAX_TXT = 1000
DEFAULT_PAGE = 10


def search_fields(meta) -> list[str]:
    """The DocType's own ``search_fields`` that are real columns (its metadata, never the request)."""
    out: list[str] = []
    for name in meta.search_fields.split(","):
        name = name.strip()
        if name and name != "name" and meta.has_column(name) and name not in out:
            out.append(name)
    return out


def search_link(ctx: "Context", doctype: str, txt: Any = "", *, filters: Any = None,
                limit: int | None = DEFAULT_PAGE, start: int = 0) -> list[dict[str, Any]]:
    if txt is None:
        txt = ""
    if not isinstance(txt, (str, int, float)) or isinstance(txt, bool):
        raise ValidationError("'txt' must be text", title="Invalid argument")
    txt = str(txt).strip()
    if len(txt) > MAX_TXT:
        raise ValidationError(f"'txt' is too long (at most {MAX_TXT} characters)", title="Invalid argument")
    meta = ctx.get_meta(doctype)
    title = meta.title_field if meta.title_field and meta.has_column(meta.title_field) else ""
    described = [f for f in search_fields(meta) if f != title]
    fields = ["name"] + ([title] if title else []) + described
    or_filters = None
    if txt:
        pattern = f"%{txt}%"
        or_filters = [[doctype, f, "like", pattern] for f in ["name"] + ([title] if title else []) + described]
    rows = listing.get_list(ctx, doctype, fields=fields, filters=filters, or_filters=or_filters,
                            limit=limit, offset=start, as_dict=False)
    out: list[dict[str, Any]] = []
    for row in rows:
        name = row[0]
        label = row[1] if title else None
        extra = row[2:] if title else row[1:]
        item: dict[str, Any] = {"value": str(name) if name is not None else name,
                                "label": label if label not in (None, "") else str(name),
                                "description": ", ".join(str(v) for v in extra if v not in (None, ""))}
        out.append(item)
    return out
