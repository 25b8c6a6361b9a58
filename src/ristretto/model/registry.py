"""The metadata registry: every DocType a site knows, kept in step across workers.

DocType definitions live in the database as DocType documents (tables
``tabDocType``, ``tabDocField``, ``tabDocPerm``), exactly as in Frappe. The three
bootstrap DocTypes needed to read them come from the built-in JSON files. Every
change to a definition bumps a version number in ``__ristretto_state``; each
request compares it (one primary-key read) and reloads when another worker
changed a definition.
"""

from __future__ import annotations

import threading

from ristretto.db import state
from ristretto.db.connection import Connection
from ristretto.db.dialects import quote
from ristretto.meta.core import BOOTSTRAP, core_definitions, effective_definition
from ristretto.meta.doctype import Meta



class MetaRegistry:
    def __init__(self) -> None:
        self._metas: dict[str, Meta] = {name: Meta(core_definitions()[name]) for name in BOOTSTRAP}
        self.version: str | None = None
        self._lock = threading.Lock()
        # doctype -> [(referencing Meta, fieldname)] for Link fields, built lazily.
        self._links_to: dict[str, list[tuple[Meta, str]]] | None = None
        # [(Meta, Dynamic Link fieldname, fieldname of the field naming its DocType)], built lazily.
        self._dynamic_links: list[tuple[Meta, str, str]] | None = None
        # DocType -> controller object with lifecycle hooks (built-ins and apps).
        from ristretto.model.controllers import builtin_controllers
        self.controllers: dict[str, object] = builtin_controllers()
        # fn(ctx, change, doc) called for each change-log row, inside the writing transaction
        # (``ristretto.model.changelog``): webhooks enqueue their deliveries here.
        self.change_listeners: list = []

    def controller(self, doctype: str):
        return self.controllers.get(doctype)

    def get(self, doctype: str) -> Meta | None:
        return self._metas.get(doctype)

    def all(self) -> list[Meta]:
        return list(self._metas.values())

    def put(self, meta: Meta) -> None:
        self._metas[meta.name] = meta
        self._links_to = self._dynamic_links = None

    def remove(self, doctype: str) -> None:
        self._metas.pop(doctype, None)
        self._links_to = self._dynamic_links = None

    # --- freshness -------------------------------------------------------------------

    @staticmethod
    def bump_version(conn: Connection) -> None:
        """Record that a definition changed (inside the caller's transaction)."""
        state.bump(conn, state.META)

    def ensure_fresh(self, conn: Connection, version: str | None = None, *, known: bool = False) -> None:
        """Reload when the stored metadata version differs (``version`` if the caller read it)."""
        v = version if known else state.read(conn).get(state.META)
        if v != self.version:
            with self._lock:
                if v != self.version:
                    self.load(conn)
                    self.version = v

    def load(self, conn: Connection) -> None:
        """Rebuild every Meta from the DocType documents in the database."""
        definitions = read_definitions(conn, self._metas)
        metas = {name: Meta(core_definitions()[name]) for name in BOOTSTRAP}
        for name, d in definitions.items():
            try:
                metas[name] = Meta(effective_definition(d))
            except Exception:  # noqa: BLE001 - one broken definition must not take the site down
                continue
        self._metas = metas
        self._links_to = self._dynamic_links = None

    # --- reverse links ---------------------------------------------------------------

    def links_to(self, doctype: str) -> list[tuple[Meta, str]]:
        if self._links_to is None:
            index: dict[str, list[tuple[Meta, str]]] = {}
            for meta in self._metas.values():
                for f in meta.data_fields:
                    if f.fieldtype == "Link" and f.options:
                        index.setdefault(f.options, []).append((meta, f.fieldname))
            self._links_to = index
        return self._links_to.get(doctype, [])

    def dynamic_links(self) -> list[tuple[Meta, str, str]]:
        """Every stored Dynamic Link field: (DocType, its fieldname, the field naming the target
        DocType). Which document it points at depends on each row, so callers filter on both."""
        if self._dynamic_links is None:
            self._dynamic_links = [
                (meta, f.fieldname, f.options) for meta in self._metas.values()
                if not meta.issingle and not meta.is_virtual
                for f in meta.data_fields
                if f.fieldtype == "Dynamic Link" and f.options and meta.has_column(f.options)]
        return self._dynamic_links


def read_definitions(conn: Connection, metas: dict[str, Meta]) -> dict[str, dict]:
    """Read every stored DocType definition as a Frappe-style dict."""
    dt, df, dp = metas["DocType"], metas["DocField"], metas["DocPerm"]
    have = _table_exists(conn, dt.table)
    if not have:
        return {}
    out: dict[str, dict] = {}
    cols = _readable(conn, dt)
    for row in conn.sql(f"SELECT {', '.join(quote(c) for c in cols)} FROM {quote(dt.table)}"):
        d = dict(zip(cols, row))
        d["fields"], d["permissions"] = [], []
        out[d["name"]] = d
    _apply_custom_docperms(conn, out, dp)
    for child_meta, key in ((df, "fields"), (dp, "permissions")):
        ccols = _readable(conn, child_meta)
        rows = conn.sql(
            f"SELECT {', '.join(quote(c) for c in ccols)} FROM {quote(child_meta.table)} "
            f"WHERE parenttype = ? ORDER BY parent, idx", ("DocType",))
        for row in rows:
            r = dict(zip(ccols, row))
            parent = out.get(r.get("parent"))
            if parent is not None and r.get("parentfield") == key:
                parent[key].append({k: v for k, v in r.items() if v not in (None, "")})
    for d in out.values():
        custom = d.pop("custom_permissions", None)
        if custom is not None:
            d["permissions"] = custom
    return out


def _readable(conn: Connection, meta: Meta) -> list[str]:
    """The columns of ``meta`` its table has (a definition may be ahead of its table)."""
    from ristretto.db.schema import existing_columns
    have = existing_columns(conn, meta.table) or set()
    return [c for c in meta.column_names if c in have]


def _apply_custom_docperms(conn: Connection, definitions: dict[str, dict], docperm: Meta) -> None:
    """Custom DocPerm rows replace a DocType's own permission rows wholesale (Frappe's rule)."""
    if not _table_exists(conn, "tabCustom DocPerm"):
        return
    cols = [c for c in docperm.column_names if c not in ("parent", "parentfield", "parenttype")]
    rows = conn.sql(f"SELECT parent, {', '.join(quote(c) for c in cols)} FROM {quote('tabCustom DocPerm')} "
                    f"ORDER BY parent, idx")
    custom: dict[str, list[dict]] = {}
    for row in rows:
        custom.setdefault(row[0], []).append({k: v for k, v in zip(cols, row[1:]) if v not in (None, "")})
    for doctype, perms in custom.items():
        if doctype in definitions:
            definitions[doctype]["custom_permissions"] = perms


def _table_exists(conn: Connection, table: str) -> bool:
    from ristretto.db.schema import existing_columns
    return existing_columns(conn, table) is not None
