"""Documents: load, insert, update and delete, with the Frappe lifecycle.

Every operation asks the context's permission policy first, so every route that
goes through here (v1, v2, RPC, files) is permission-checked without repeating
the checks. Standard fields (name, owner, creation, modified, modified_by, idx,
parent*) are always set here, never taken from the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ristretto.db.connection import IntegrityError
from ristretto.db.dialects import quote
from ristretto.exceptions import (
    CannotChangeConstantError, DocstatusTransitionError, DoesNotExistError, LinkExistsError,
    PermissionError, TimestampMismatchError, UpdateAfterSubmitError, ValidationError,
)
from ristretto.meta.doctype import CHILD_FIELDS, OPTIONAL_FIELDS, STANDARD_FIELDS, Meta
from ristretto.meta.fieldtypes import DATE, DATETIME, TIME, coerce_value
from ristretto.model import etags, naming, passwords, validation, versions
from ristretto.model.base import Document
from ristretto.model.storage import (  # load and exists are part of this module's API too
    exists, insert_sql, integrity_error, load, load_single, row_values, update_sql, write_children,
)

if TYPE_CHECKING:
    from ristretto.model.context import Context

# Keys a client may send that are never document values.
_IGNORED_KEYS = frozenset({"doctype", "flags", "ignore_permissions", "cmd", "sid", "csrf_token",
                           "__islocal", "__unsaved", "__onload", "__last_sync_on", "_comments",
                           "_assign", "_liked_by", "_user_tags", "_seen"})
_SERVER_SET = frozenset(STANDARD_FIELDS + CHILD_FIELDS) - {"docstatus"}
# Keys that can only hold one value (text or number) whatever the DocType.
_SCALAR_KEYS = frozenset(STANDARD_FIELDS + CHILD_FIELDS + ("doctype",))
# Log-like DocTypes whose links never block a delete.
_LINK_EXEMPT = frozenset({"ToDo", "Comment", "Version", "DocShare", "Communication", "File",
                          "Deleted Document", "Activity Log", "Access Log", "View Log"})


def get_doc(ctx: "Context", doctype: str, name: Any, *, for_update: bool = False) -> Document:
    """Load a document the user may read (permission checked); ``for_update``: locked until the
    transaction ends, for a caller that checks it before writing (``etags.check``)."""
    meta = ctx.get_meta(doctype)
    if meta.istable:
        row, parent = _child_row(ctx, meta, name, "read")
        return _locked_row(ctx, meta, name, parent)[0] if for_update else row
    ctx.perms.check(ctx, doctype, "read")
    doc = load(ctx, doctype, name, for_update=for_update)
    ctx.perms.check(ctx, doctype, "read", doc)
    return doc


def _child_row(ctx: "Context", meta: Meta, name: Any, ptype: str, *,
               table_level: bool = True) -> tuple[Document, Document]:
    """A child row and its parent document, after Frappe's child-table rule (05 § 7): the row
    is reached only through a parent DocType that has a Table field for it, the user needs
    ``ptype`` on the parent document, and (``table_level``) ``ptype`` at the Table field's
    permlevel."""
    row = load(ctx, meta.name, name)
    parent_meta = ctx.find_meta(row.d.get("parenttype") or "")
    tf = parent_meta.get_table_field(row.d.get("parentfield") or "") if parent_meta is not None else None
    if tf is None or tf.options != meta.name or parent_meta.istable:
        raise DoesNotExistError(f"{meta.name} {name} not found", doctype=meta.name)
    parent = load(ctx, parent_meta.name, row.d.get("parent"))
    ctx.perms.check(ctx, parent_meta.name, ptype, parent)
    if table_level and tf.permlevel and tf.permlevel not in ctx.perms.level_access(ctx, parent_meta, ptype):
        message = f"Insufficient Permission Level for {parent_meta.name}"
        error = PermissionError(message, doctype=parent_meta.name)
        error.error_message = message
        raise error
    return row, parent


def _locked_row(ctx: "Context", meta: Meta, name: Any, parent: Document) -> tuple[Document, Document]:
    """The child row and its parent again, once the parent's row is locked until the transaction
    ends: every write of a row saves (and first locks) its parent, so what is read now is what a
    write in this transaction replaces. Without it, two writers of rows of one parent on
    PostgreSQL would each save all the rows as they read them before the other's save."""
    parent = load(ctx, parent.meta.name, parent.name, for_update=True)
    return load(ctx, meta.name, name), parent


def _locked_single(ctx: "Context", meta: Meta) -> Document:
    """A Single's values, their rows locked until the transaction ends (PostgreSQL)."""
    if ctx.dialect.name == "postgres":
        ctx.db.sql(f"SELECT 1 FROM {quote('tabSingles')} WHERE doctype = ? FOR UPDATE", (meta.name,))
    return load_single(ctx, meta)


# --- building from client data ----------------------------------------------------------------

def _defaults(meta: Meta, ctx: "Context") -> dict[str, Any]:
    """DocField defaults for a new document or row.

    None while importing (``ctx.flags["in_import"]``), like Frappe: an exported file
    omits every key whose value is 0, so a missing key must stay 0 and not take the
    field's default (a DocPerm row without ``write`` must not get DocPerm's ``write``
    default of 1).
    """
    import datetime as _dt
    out: dict[str, Any] = {}
    if ctx.flags.get("in_import"):
        return out
    for f in meta.data_fields:
        if f.default is None:
            continue
        default = f.default
        kind = f.ft.kind
        if kind == DATE and default.lower() == "today":
            out[f.fieldname] = _dt.date.today().isoformat()
        elif kind == DATETIME and default.lower() == "now":
            out[f.fieldname] = ctx.now()
        elif default.startswith(":") or (default.startswith("{") and default.endswith("}")):
            continue  # user defaults / templates of other fields: not applicable server-side
        elif kind == TIME and default.lower() == "now":
            out[f.fieldname] = _dt.datetime.now().strftime("%H:%M:%S")
        else:
            try:
                out[f.fieldname] = coerce_value(f.ft, default, f.label)
            except ValidationError:
                continue
    return out


def _apply_values(ctx: "Context", doc: Document, data: dict, *, is_new: bool, row_label: str = "") -> None:
    """Coerce and set client values on ``doc`` (standard fields and unknown keys ignored)."""
    meta = doc.meta
    for key, value in data.items():
        if key in _SCALAR_KEYS:
            # Ignored or server-set, but an object here is malformed input, never silently dropped.
            validation.check_scalar(value, key, row_label)
        if key in _IGNORED_KEYS or (key in _SERVER_SET and key in meta.standard_fields):
            # Server-owned columns; ``parent`` is one only on child tables (Custom DocPerm and
            # the like have a ``parent`` field of their own).
            continue
        f = meta.get_field(key)
        if f is None:
            if key == "docstatus":
                doc.d["docstatus"] = _docstatus_value(value)
            continue
        if f.is_table:
            child_meta = ctx.find_meta(f.options)
            if child_meta is None or not child_meta.istable:
                continue  # unknown child DocType (or not a child table): nowhere to store rows
            if value is None:
                value = []
            if isinstance(value, str):
                from ristretto.db.filters import parse_json_arg
                value = parse_json_arg(value, key) or []
            if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
                raise ValidationError(f"Value for {f.label} must be a list of rows", title="Invalid value")
            doc.children[key] = _child_rows(ctx, doc, f.fieldname, child_meta, value)
            continue
        if not f.has_column or key in ("name",):
            continue
        doc.d[key] = coerce_value(f.ft, value, f.label)


def _docstatus_value(value: Any) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise ValidationError("docstatus must be 0, 1 or 2", title="Invalid value") from None
    if v not in (0, 1, 2):
        raise ValidationError("docstatus must be 0, 1 or 2", title="Invalid value")
    return v


def _child_rows(ctx: "Context", parent: Document, fieldname: str, child_meta: Meta, rows: list[dict]) -> list[Document]:
    existing = {r.name: r for r in (parent.previous.children.get(fieldname, []) if parent.previous else [])}
    out = []
    table = parent.meta.get_field(fieldname)
    label = table.label if table is not None else fieldname
    for i, data in enumerate(rows, start=1):
        row_label = f"{label} Row #{i}: "
        # The row's name finds the stored row it replaces: it must be one value.
        validation.check_scalar(data.get("name"), "name", row_label)
        prev = existing.get(data.get("name"))
        row = Document(child_meta, {c: None for c in child_meta.column_names}, is_new=prev is None)
        if prev is None:
            # Only new rows take defaults: an existing row is fully overwritten by what was
            # sent, and what was left out becomes empty (Frappe's replace semantics).
            row.d.update(_defaults(child_meta, ctx))
        for f in child_meta.data_fields:
            if f.ft.not_null_zero and row.d.get(f.fieldname) is None:
                row.d[f.fieldname] = 0
        _apply_values(ctx, row, data, is_new=True, row_label=row_label)
        if prev is not None:
            row.d["name"] = prev.name
        else:
            # The child DocType's own rule: a hash unless it says otherwise (autoincrement).
            naming.set_name(ctx, row)
        if prev is not None:
            row.d["creation"] = prev.d.get("creation")
            row.d["owner"] = prev.d.get("owner")
        row.d["idx"] = i
        row.d["parentfield"] = fieldname
        out.append(row)
    return out


def _stamp(ctx: "Context", doc: Document, now: str) -> None:
    """Set server-owned fields on the document and its rows."""
    if doc.is_new:
        doc.d["owner"] = ctx.user
        doc.d["creation"] = now
    doc.d["modified"] = now
    doc.d["modified_by"] = ctx.user
    doc.d.setdefault("idx", 0)
    if doc.d.get("idx") is None:
        doc.d["idx"] = 0
    for rows in doc.children.values():
        for row in rows:
            if row.is_new or not row.d.get("creation"):
                row.d["owner"] = ctx.user
                row.d["creation"] = now
            row.d["modified"] = now
            row.d["modified_by"] = ctx.user
            row.d["docstatus"] = doc.docstatus
            row.d["parent"] = str(doc.name)
            row.d["parenttype"] = doc.meta.name


def _validate(ctx: "Context", doc: Document) -> None:
    validation.check_mandatory(ctx, doc)
    validation.check_values(ctx, doc)
    for rows in doc.children.values():
        for row in rows:
            validation.check_values(ctx, row, row_label=f"Row #{row.d.get('idx')}: ")
    if doc.docstatus < 2:
        validation.check_links(ctx, doc)
        for rows in doc.children.values():
            for row in rows:
                validation.check_links(ctx, row, row_label=f"Row #{row.d.get('idx')}: ")
    validation.check_unique(ctx, doc)


def _fetch_from(ctx: "Context", doc: Document) -> None:
    """Refresh ``fetch_from`` fields from the linked document, in the document and its rows."""
    for rows in doc.children.values():
        for row in rows:
            _fetch_from(ctx, row)
    meta = doc.meta
    for f in meta.data_fields:
        if not f.fetch_from or "." not in f.fetch_from:
            continue
        if f.fetch_if_empty and doc.d.get(f.fieldname) not in (None, ""):
            continue
        link_field, source = f.fetch_from.split(".", 1)
        lf = meta.get_field(link_field)
        if lf is None or lf.fieldtype != "Link":
            continue
        target = ctx.find_meta(lf.options)
        value = doc.d.get(link_field)
        if target is None or target.issingle or not target.has_column(source):
            continue
        if value in (None, ""):
            if not f.fetch_if_empty:
                doc.d[f.fieldname] = None if not f.ft.not_null_zero else 0
            continue
        row = ctx.db.one(f"SELECT {quote(source)} FROM {quote(target.table)} WHERE name = ?", (value,))
        if row is not None:
            doc.d[f.fieldname] = row[0]


def _hook(ctx: "Context", doc: Document, method: str) -> None:
    controller = ctx.registry.controller(doc.meta.name)
    if controller is not None:
        fn = getattr(controller, method, None)
        if fn is not None:
            fn(ctx, doc)


def _transform(ctx: "Context", doctype: str, data: dict) -> dict:
    controller = ctx.registry.controller(doctype)
    fn = getattr(controller, "transform_input", None) if controller is not None else None
    return fn(ctx, data) if fn is not None else data


def new_doc(ctx: "Context", doctype: str, data: dict | None = None) -> Document:
    """An unsaved document with defaults applied and ``data`` coerced onto it."""
    meta = ctx.get_meta(doctype)
    doc = Document(meta, {c: None for c in meta.column_names}, is_new=True)
    doc.d.update(_defaults(meta, ctx))
    for f in meta.data_fields:
        if f.ft.not_null_zero and doc.d.get(f.fieldname) is None:
            doc.d[f.fieldname] = 0
    doc.d["docstatus"] = 0
    doc.d["idx"] = 0
    if data:
        _apply_values(ctx, doc, data, is_new=True)
    return doc


def insert(ctx: "Context", doctype: str, data: dict, *, name: Any = None, force_name: bool = False) -> Document:
    """Insert a new document from client data.

    ``name`` is used only when the naming rule allows it, unless ``force_name`` is set
    by a trusted caller (installation, DocType import).
    """
    meta = ctx.get_meta(doctype)
    validation.check_scalar(name, "name")
    data = _transform(ctx, doctype, data)
    if meta.istable:
        raise ValidationError("Parenttype, Parent and Parentfield are required to insert a child record",
                              title="Missing parent")
    if meta.issingle:
        return save_single(ctx, doctype, data)
    doc = new_doc(ctx, doctype, data)
    if doc.docstatus == 2:
        raise DocstatusTransitionError("Cannot change docstatus from 0 (Draft) to 2 (Cancelled)")
    if doc.docstatus == 1 and not meta.is_submittable:
        raise ValidationError(f"{doctype} is not submittable", title="Not submittable")
    _reset_unwritable(ctx, doc, None)
    ctx.perms.check(ctx, doctype, "create", doc)
    if doc.docstatus == 1:
        ctx.perms.check(ctx, doctype, "submit", doc)
    _hook(ctx, doc, "before_insert")
    controller = ctx.registry.controller(doctype)
    # Owner and timestamps are set before naming, as in Frappe: a name template may
    # use them (Data Import: ``format:{reference_doctype} Import on {creation}``).
    now = ctx.now()
    doc.d.update(owner=ctx.user, creation=now, modified=now, modified_by=ctx.user)
    if force_name and name not in (None, ""):
        doc.name = name
        naming.validate_name(meta, doc)
    elif not (controller is not None and getattr(controller, "autoname", None)
              and controller.autoname(ctx, doc, name)):
        naming.set_name(ctx, doc, name)
    _stamp(ctx, doc, now)
    _fetch_from(ctx, doc)
    _hook(ctx, doc, "validate")
    _stamp(ctx, doc, now)  # again, for child rows the hook added
    _validate(ctx, doc)
    _hook(ctx, doc, "before_submit" if doc.docstatus == 1 else "before_save")
    try:
        with ctx.db.savepoint("doc_insert"):
            passwords.save(ctx, doc)
            ctx.db.execute(insert_sql(meta), row_values(doc))
            write_children(ctx, doc, doc.children.keys())
    except IntegrityError as e:
        raise integrity_error(doc, e) from None
    doc.is_new = False
    _hook(ctx, doc, "after_insert")
    _hook(ctx, doc, "on_update")
    if doc.docstatus == 1:
        _hook(ctx, doc, "on_submit")
    return doc


def update(ctx: "Context", doctype: str, name: Any, data: dict, *,
           expect: etags.Preconditions | None = None) -> Document:
    """Apply a partial update (PUT semantics) with Frappe's checks; ``expect``: the request's
    ``If-Match``/``If-None-Match``, checked against the locked row (412 when it changed)."""
    meta = ctx.get_meta(doctype)
    data = _transform(ctx, doctype, data)
    if meta.issingle:
        if expect is not None:
            ctx.perms.check(ctx, doctype, "write")
            etags.check(ctx, _locked_single(ctx, meta), expect)
        return save_single(ctx, doctype, data)
    if meta.istable:
        row, parent = _child_row(ctx, meta, name, "write")
        etags.check(ctx, _locked_row(ctx, meta, name, parent)[0], expect)
        return _update_child_row(ctx, meta, name, data)
    _check_blind(ctx, doctype, "write")
    previous = load(ctx, doctype, name, for_update=True)
    ctx.perms.check(ctx, doctype, "write", previous)
    etags.check(ctx, previous, expect)
    validation.check_scalar(data.get("modified"), "modified")
    if "modified" in data and data["modified"] not in (None, ""):
        if str(data["modified"]) != str(previous.d.get("modified")):
            raise TimestampMismatchError(
                f"Error: Document has been modified after you have opened it "
                f"({previous.d.get('modified')}, {data['modified']}). Please refresh to get the latest document.",
                title="Document Modified")
    doc = Document(meta, dict(previous.d))
    doc.children = {k: list(v) for k, v in previous.children.items()}
    doc.previous = previous
    _apply_values(ctx, doc, data, is_new=False)
    _reset_unwritable(ctx, doc, previous)
    # The document as it will be saved must pass too (Frappe checks the saved state): a user
    # restricted by User Permissions or a rule cannot move a document out of their reach.
    ctx.perms.check(ctx, doctype, "write", doc)
    _check_transition(ctx, previous, doc)
    for f in meta.data_fields:
        if f.set_only_once and previous.d.get(f.fieldname) not in (None, "", 0) \
                and doc.d.get(f.fieldname) != previous.d.get(f.fieldname):
            raise CannotChangeConstantError(f"Value cannot be changed for {f.label}")
    return _save_existing(ctx, doc, previous)


def _check_blind(ctx: "Context", doctype: str, ptype: str) -> None:
    """For a user who cannot read the DocType, check ``ptype`` at DocType level before looking the
    document up: existing and missing documents then get the same 403 (05 § 8). Users who can
    read learn of a missing document anyway (404), as in Frappe."""
    if not ctx.perms.has(ctx, doctype, "read"):
        ctx.perms.check(ctx, doctype, ptype)


def _reset_unwritable(ctx: "Context", doc: Document, previous: Document | None) -> None:
    """Values sent for fields the user may not write are silently put back (Frappe's rule)."""
    meta = doc.meta
    writable = ctx.perms.writable_fields(ctx, meta)
    if writable is not None:
        base = previous.d if previous is not None else _blank(ctx, meta)
        for f in meta.data_fields:
            if f.fieldname not in writable:
                doc.d[f.fieldname] = base.get(f.fieldname)
        for tf in meta.table_fields:
            if tf.fieldname not in writable:
                doc.children[tf.fieldname] = list(previous.children.get(tf.fieldname, [])) if previous else []
    for tf in meta.table_fields:
        child_meta = ctx.find_meta(tf.options)
        rows = doc.children.get(tf.fieldname)
        if child_meta is None or not rows:
            continue
        child_writable = ctx.perms.writable_fields(ctx, meta, child_meta)
        if child_writable is None:
            continue
        before = {r.name: r for r in previous.children.get(tf.fieldname, [])} if previous else {}
        blank = _blank(ctx, child_meta)
        for row in rows:
            prev = before.get(row.name)
            for f in child_meta.data_fields:
                if f.fieldname not in child_writable:
                    row.d[f.fieldname] = prev.d.get(f.fieldname) if prev is not None else blank.get(f.fieldname)


def _blank(ctx: "Context", meta: Meta) -> dict[str, Any]:
    """Values of a new document before the client's data: defaults, zeros for numbers."""
    values = {f.fieldname: 0 for f in meta.data_fields if f.ft.not_null_zero}
    values.update(_defaults(meta, ctx))
    return values


def visible_dict(ctx: "Context", doc: Document, *, no_nulls: bool = False) -> dict:
    """The document as the user may see it: fields above their permlevels removed."""
    meta = doc.meta
    owner = ctx.find_meta(doc.d.get("parenttype") or "") if meta.istable else meta
    if owner is None:
        owner = meta
    fields = ctx.perms.readable_fields(ctx, owner, meta)
    out = doc.as_dict(no_nulls=no_nulls, fields=fields)
    for tf in meta.table_fields:
        rows = out.get(tf.fieldname)
        child_meta = ctx.find_meta(tf.options)
        if not rows or child_meta is None:
            continue
        allowed = ctx.perms.readable_fields(ctx, owner, child_meta)
        if allowed is not None:
            out[tf.fieldname] = [{k: v for k, v in row.items() if k in allowed or k == "doctype"} for row in rows]
    return out


def _check_transition(ctx: "Context", previous: Document, doc: Document) -> None:
    old, new = previous.docstatus, doc.docstatus
    meta = doc.meta
    if old == 2:
        raise ValidationError("Cannot edit cancelled document", title="Not allowed")
    if old == 0 and new == 2:
        raise DocstatusTransitionError("Cannot change docstatus from 0 (Draft) to 2 (Cancelled)")
    if old == 1 and new == 0:
        raise DocstatusTransitionError("Cannot change docstatus from 1 (Submitted) to 0 (Draft)")
    if new in (1, 2) and not meta.is_submittable:
        raise ValidationError(f"{meta.name} is not submittable", title="Not submittable")
    if old == 0 and new == 1:
        ctx.perms.check(ctx, meta.name, "submit", doc)
    elif old == 1 and new == 2:
        ctx.perms.check(ctx, meta.name, "cancel", doc)
    elif old == 1 and new == 1:
        ctx.perms.check(ctx, meta.name, "submit", doc)
        for f in meta.data_fields:
            if f.allow_on_submit or f.fieldname in STANDARD_FIELDS:
                continue
            if doc.d.get(f.fieldname) != previous.d.get(f.fieldname):
                # A Password field's value is never put into a message (nor the log).
                change = "" if f.ft.secret else f" from {previous.d.get(f.fieldname)} to {doc.d.get(f.fieldname)}"
                raise UpdateAfterSubmitError(f"Not allowed to change {f.label} after submission{change}")
        for tf in meta.table_fields:
            if not tf.allow_on_submit and tf.fieldname in doc.children and \
                    [r.d for r in doc.children[tf.fieldname]] != [r.d for r in previous.children.get(tf.fieldname, [])]:
                # Child rows of a submitted document are compared by value, ignoring stamps.
                if _rows_changed(previous.children.get(tf.fieldname, []), doc.children[tf.fieldname]):
                    raise UpdateAfterSubmitError(f"Not allowed to change {tf.label} after submission")


def _rows_changed(old: list[Document], new: list[Document]) -> bool:
    skip = set(STANDARD_FIELDS) | set(CHILD_FIELDS)
    strip = lambda r: {k: v for k, v in r.d.items() if k not in skip}  # noqa: E731
    return [strip(r) for r in old] != [strip(r) for r in new]


def _save_existing(ctx: "Context", doc: Document, previous: Document) -> Document:
    meta = doc.meta
    now = ctx.now()
    _stamp(ctx, doc, now)
    _fetch_from(ctx, doc)
    _hook(ctx, doc, "validate")
    _stamp(ctx, doc, now)  # again, for child rows the hook added
    _validate(ctx, doc)
    old, new = previous.docstatus, doc.docstatus
    _hook(ctx, doc, "before_submit" if (old, new) == (0, 1) else "before_cancel" if (old, new) == (1, 2)
          else "before_update_after_submit" if (old, new) == (1, 1) else "before_save")
    if (old, new) == (1, 2):
        _check_no_links(ctx, doc, submitted_only=True)
    try:
        with ctx.db.savepoint("doc_update"):
            passwords.save(ctx, doc)
            values = row_values(doc)
            name_idx = meta.column_names.index("name")
            params = values[:name_idx] + values[name_idx + 1:] + [previous.name]
            ctx.db.execute(update_sql(meta), params)
            # Every row is rewritten, as in Frappe: rows carry the parent's modified and
            # docstatus (a submit without the table in the payload submits its rows too).
            write_children(ctx, doc, doc.children.keys())
    except IntegrityError as e:
        raise integrity_error(doc, e) from None
    versions.record(ctx, previous, doc)
    _hook(ctx, doc, "on_update")
    if (old, new) == (0, 1):
        _hook(ctx, doc, "on_submit")
    elif (old, new) == (1, 2):
        _hook(ctx, doc, "on_cancel")
    return doc


def _update_child_row(ctx: "Context", meta: Meta, name: Any, data: dict) -> Document:
    """Updating a child row saves its parent so the parent's validations run."""
    row, parent = _child_row(ctx, meta, name, "write")
    parent_type, parent_name, field = parent.meta.name, parent.name, row.d.get("parentfield")
    rows = []
    for r in parent.children.get(field, []):
        d = r.as_dict()
        if r.name == row.name:
            d.update({k: v for k, v in data.items() if k not in _SERVER_SET})
        rows.append(d)
    update(ctx, parent_type, parent_name, {field: rows})
    return load(ctx, meta.name, name)


def save_single(ctx: "Context", doctype: str, data: dict) -> Document:
    meta = ctx.get_meta(doctype)
    ctx.perms.check(ctx, doctype, "write")
    # Locked: two saves at once would otherwise both delete the old rows and insert theirs
    # (on PostgreSQL the second then fails on the duplicate rows).
    previous = _locked_single(ctx, meta)
    doc = Document(meta, dict(previous.d))
    doc.children = dict(previous.children)
    doc.previous = previous
    _apply_values(ctx, doc, data, is_new=False)
    _reset_unwritable(ctx, doc, previous)
    doc.d["docstatus"] = 0
    now = ctx.now()
    _stamp(ctx, doc, now)
    _hook(ctx, doc, "validate")
    _validate(ctx, doc)
    passwords.save(ctx, doc)
    ctx.db.execute(f"DELETE FROM {quote('tabSingles')} WHERE doctype = ?", (doctype,))
    rows = [(doctype, f.fieldname, None if doc.d.get(f.fieldname) is None else str(doc.d.get(f.fieldname)))
            for f in meta.data_fields]
    rows.append((doctype, "modified", now))
    ctx.db.executemany(f"INSERT INTO {quote('tabSingles')} (doctype, field, value) VALUES (?, ?, ?)", rows)
    write_children(ctx, doc, doc.children.keys())
    _hook(ctx, doc, "on_update")
    return doc


def delete(ctx: "Context", doctype: str, name: Any, *, expect: etags.Preconditions | None = None) -> None:
    """Delete a document (and its child rows) after Frappe's checks; ``expect`` as in :func:`update`."""
    meta = ctx.get_meta(doctype)
    if meta.issingle:
        raise ValidationError(f"Cannot delete single DocType {doctype}", title="Not allowed")
    if meta.istable:
        # Frappe (client.delete_doc): the row is removed from its parent, which is saved, so
        # this needs ``write`` on the parent document, and the parent's rules apply (a table
        # at a permlevel the user may not write is put back; a submitted parent refuses).
        row, parent = _child_row(ctx, meta, name, "write", table_level=False)
        row, parent = _locked_row(ctx, meta, name, parent)
        etags.check(ctx, row, expect)
        field = row.d.get("parentfield")
        rows = [r.as_dict() for r in parent.children.get(field, []) if r.name != row.name]
        update(ctx, parent.meta.name, parent.name, {field: rows})
        return
    _check_blind(ctx, doctype, "delete")
    doc = load(ctx, doctype, name, for_update=True)
    ctx.perms.check(ctx, doctype, "delete", doc)
    etags.check(ctx, doc, expect)
    if doc.docstatus == 1:
        raise ValidationError(f"{doctype} {name}: Submitted Record cannot be deleted. You must Cancel it first.",
                              title="Not allowed")
    # Frappe's order: the controller may clean up what links here before the check.
    _hook(ctx, doc, "on_trash")
    _check_no_links(ctx, doc)
    ctx.db.execute(f"DELETE FROM {quote(meta.table)} WHERE name = ?", (doc.name,))
    for tf in meta.table_fields:
        child_meta = ctx.find_meta(tf.options)
        if child_meta is not None and child_meta.istable:
            ctx.db.execute(f"DELETE FROM {quote(child_meta.table)} WHERE parent = ? AND parenttype = ?",
                           (str(doc.name), doctype))
    passwords.remove(ctx, doc)
    naming.revert_series_if_last(ctx, doc)
    _delete_dependents(ctx, doc)
    _hook(ctx, doc, "after_delete")


def _delete_dependents(ctx: "Context", doc: Document) -> None:
    """As in Frappe, a deleted document takes its comments and attached files with it."""
    from dataclasses import replace

    from ristretto.model.context import AllowAll
    ref = (doc.meta.name, str(doc.name))
    if ctx.find_meta("Comment") is not None and doc.meta.name != "Comment":
        ctx.db.execute(f"DELETE FROM {quote('tabComment')} WHERE reference_doctype = ? AND reference_name = ?", ref)
    if ctx.find_meta("File") is not None and doc.meta.name != "File":
        rows = ctx.db.sql(f"SELECT name FROM {quote('tabFile')} WHERE attached_to_doctype = ? "
                          f"AND attached_to_name = ?", ref)
        if rows:
            # The File controller removes the bytes once the transaction commits.
            trusted = replace(ctx, perms=AllowAll())
            for (file_name,) in rows:
                delete(trusted, "File", file_name)


def _check_no_links(ctx: "Context", doc: Document, *, submitted_only: bool = False) -> None:
    """Refuse when another live document links here (on cancel: only submitted ones count)."""
    status_sql = "docstatus = 1" if submitted_only else "docstatus < 2"
    for other, fieldname in ctx.registry.links_to(doc.meta.name):
        if other.name in _LINK_EXEMPT or other.issingle or other.is_virtual:
            continue
        if other.istable:
            sql = (f"SELECT parenttype, parent FROM {quote(other.table)} WHERE {quote(fieldname)} = ? "
                   f"AND {status_sql} LIMIT 1")
            row = ctx.db.one(sql, (str(doc.name),))
        else:
            if other.name == doc.meta.name and fieldname == "amended_from":
                continue
            sql = f"SELECT name FROM {quote(other.table)} WHERE {quote(fieldname)} = ? AND {status_sql} LIMIT 1"
            found = ctx.db.one(sql, (str(doc.name),))
            row = (other.name, found[0]) if found else None
        if row is not None and not (row[0] == doc.meta.name and str(row[1]) == str(doc.name)):
            raise LinkExistsError(
                f"Cannot delete or cancel because {doc.meta.name} {doc.name} is linked with {row[0]} {row[1]}",
                title="Linked document")


def insert_record(ctx: "Context", doctype: str, data: dict, *, name: Any = None) -> Document:
    """Write a record the server keeps for itself (Version, supporting Module Def or Role):
    defaults and stamps only, no hooks, validation or permission checks; the caller builds
    the values from data it has already validated."""
    doc = new_doc(ctx, doctype, data)
    doc.name = name if name is not None else naming.make_hash()
    _stamp(ctx, doc, ctx.now())
    ctx.db.execute(insert_sql(doc.meta), row_values(doc))
    return doc


def insert_trusted(ctx: "Context", doctype: str, data: dict, *, name: Any = None) -> Document:
    """Insert on the system's behalf (Version and Comment records the server writes itself):
    the caller has already been authorised for what caused it."""
    from dataclasses import replace

    from ristretto.model.context import AllowAll
    return insert(replace(ctx, perms=AllowAll()), doctype, data, name=name, force_name=name is not None)


def submit(ctx: "Context", doctype: str, name: Any, data: dict | None = None) -> Document:
    """Submit a draft (docstatus 0 -> 1), optionally applying ``data`` first."""
    return update(ctx, doctype, name, {**(data or {}), "docstatus": 1})


def cancel(ctx: "Context", doctype: str, name: Any) -> Document:
    """Cancel a submitted document (1 -> 2); refused while submitted documents link to it."""
    return update(ctx, doctype, name, {"docstatus": 2})


def set_value(ctx: "Context", doctype: str, name: Any, values: dict) -> Document:
    """Convenience: update some fields of one document."""
    return update(ctx, doctype, name, values)


__all__ = ["Document", "load", "get_doc", "exists", "new_doc", "insert", "update", "delete",
           "save_single", "submit", "cancel", "set_value", "visible_dict", "insert_trusted", "insert_record",
           "OPTIONAL_FIELDS"]
