"""Documents: insert, update (save) and delete, with their checks and hooks.

Loading for a user lives in ``access``, building from client values in ``clientvalues``,
submit/cancel/amend/copy in ``lifecycle``; ``get_doc``, ``submit`` and ``cancel`` are also
reachable from here.

Every operation asks the context's permission policy first, so every route that
goes through here (v1, v2, RPC, files) is permission-checked without repeating
the checks. Standard fields (name, owner, creation, modified, modified_by, idx,
parent*) are always set here, never taken from the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ristretto.db.connection import IntegrityError
from ristretto.db.dialects import SQLITE, quote
from ristretto.exceptions import (
    CannotChangeConstantError, DocstatusTransitionError, DoesNotExistError, PermissionError,
    TimestampMismatchError, ValidationError,
)
from ristretto.meta.doctype import OPTIONAL_FIELDS, Meta
from ristretto.model import changelog, etags, lifecycle, naming, passwords, validation, versions
from ristretto.model.access import child_row, get_doc, locked_row, locked_single
from ristretto.model.base import Document
from ristretto.model.clientvalues import SERVER_SET, apply_values, defaults
from ristretto.model.storage import (  # load and exists are part of this module's API too
    exists, insert_sql, integrity_error, load, row_values, update_sql, update_values, write_children,
)
from ristretto.model.writeplan import write_plan

if TYPE_CHECKING:
    from ristretto.model.context import Context




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
    for f, link_field, source, lf in write_plan(doc.meta).fetch:
        if f.fetch_if_empty and doc.d.get(f.fieldname) not in (None, ""):
            continue
        if lf is None:
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


def _one_statement(ctx: "Context", meta: Meta) -> bool:
    """Whether writing a document of ``meta`` is a single statement (no child tables, no
    Password fields) on SQLite. SQLite undoes a failed statement by itself and leaves the
    transaction usable, so the savepoint that guards a multi-statement write (a failed
    child row must take its parent's row with it) would only cost two more statements.
    PostgreSQL aborts the whole transaction on any failed statement: it always keeps it."""
    return ctx.db.dialect is SQLITE and not meta.table_fields and not passwords.secret_fields(meta)


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
    plan = write_plan(meta)
    doc = Document(meta, dict(plan.zeroed), is_new=True)
    d = doc.d
    d.update(defaults(meta, ctx))
    for fieldname in plan.zero_if_none:
        if d[fieldname] is None:
            d[fieldname] = 0
    d["docstatus"] = 0
    d["idx"] = 0
    if data:
        apply_values(ctx, doc, data, is_new=True)
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
    if doc.d.get("amended_from") not in (None, ""):
        lifecycle.check_amendment(ctx, doc)
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
        if _one_statement(ctx, meta):
            ctx.db.execute(insert_sql(meta), row_values(doc))
        else:
            with ctx.db.savepoint("doc_insert"):
                passwords.save(ctx, doc)
                ctx.db.execute(insert_sql(meta), row_values(doc))
                write_children(ctx, doc, doc.children.keys())
    except IntegrityError as e:
        raise integrity_error(doc, e) from None
    doc.is_new = False
    _hook(ctx, doc, "after_insert")
    if doc.d.get("amended_from") not in (None, ""):
        lifecycle.copy_attachments(ctx, doc)
    _hook(ctx, doc, "on_update")
    if doc.docstatus == 1:
        _hook(ctx, doc, "on_submit")
    changelog.record(ctx, "amend" if doc.d.get("amended_from") not in (None, "") else "insert", doc)
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
            etags.check(ctx, locked_single(ctx, meta), expect)
        return save_single(ctx, doctype, data)
    if meta.istable:
        row, parent = child_row(ctx, meta, name, "write")
        etags.check(ctx, locked_row(ctx, meta, name, parent)[0], expect)
        return _updatechild_row(ctx, meta, name, data)
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
    apply_values(ctx, doc, data, is_new=False)
    _reset_unwritable(ctx, doc, previous)
    # The document as it will be saved must pass too (Frappe checks the saved state): a user
    # restricted by User Permissions or a rule cannot move a document out of their reach.
    ctx.perms.check(ctx, doctype, "write", doc)
    lifecycle.check_transition(ctx, previous, doc)
    for f in write_plan(meta).set_only_once:
        if previous.d.get(f.fieldname) not in (None, "", 0) \
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
    values.update(defaults(meta, ctx))
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
        lifecycle.check_no_links(ctx, doc, submitted_only=True)
    try:
        if _one_statement(ctx, meta):
            ctx.db.execute(update_sql(meta), update_values(doc, previous.name))
        else:
            with ctx.db.savepoint("doc_update"):
                passwords.save(ctx, doc)
                ctx.db.execute(update_sql(meta), update_values(doc, previous.name))
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
    changelog.record(ctx, "submit" if (old, new) == (0, 1) else "cancel" if (old, new) == (1, 2) else "update",
                     doc, fields=changelog.changed_fields(previous, doc))
    return doc


def _updatechild_row(ctx: "Context", meta: Meta, name: Any, data: dict) -> Document:
    """Updating a child row saves its parent so the parent's validations run."""
    row, parent = child_row(ctx, meta, name, "write")
    parent_type, parent_name, field = parent.meta.name, parent.name, row.d.get("parentfield")
    rows = []
    for r in parent.children.get(field, []):
        d = r.as_dict()
        if r.name == row.name:
            d.update({k: v for k, v in data.items() if k not in SERVER_SET})
        rows.append(d)
    update(ctx, parent_type, parent_name, {field: rows})
    return load(ctx, meta.name, name)


def save_single(ctx: "Context", doctype: str, data: dict) -> Document:
    meta = ctx.get_meta(doctype)
    ctx.perms.check(ctx, doctype, "write")
    # Locked: two saves at once would otherwise both delete the old rows and insert theirs
    # (on PostgreSQL the second then fails on the duplicate rows).
    previous = locked_single(ctx, meta)
    doc = Document(meta, dict(previous.d))
    doc.children = dict(previous.children)
    doc.previous = previous
    apply_values(ctx, doc, data, is_new=False)
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
    changelog.record(ctx, "update", doc, fields=changelog.changed_fields(previous, doc))
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
        try:
            row, parent = child_row(ctx, meta, name, "write", table_level=False)
        except PermissionError:
            # Every route (REST, frappe.client.delete, v2) reports a row whose parent the user
            # may not write as not found, whether or not they may read it.
            raise DoesNotExistError(f"{meta.name} {name} not found", doctype=meta.name) from None
        row, parent = locked_row(ctx, meta, name, parent)
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
    lifecycle.check_no_links(ctx, doc)
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
    changelog.record(ctx, "delete", doc)


def _delete_dependents(ctx: "Context", doc: Document) -> None:
    """As in Frappe, a deleted document takes its comments and attached files with it."""
    from dataclasses import replace

    from ristretto.model.context import AllowAll
    ref = (doc.meta.name, str(doc.name))
    if ctx.find_meta("Comment") is not None and doc.meta.name != "Comment":
        where = "WHERE reference_doctype = ? AND reference_name = ?"
        comments = [n for (n,) in ctx.db.sql(f"SELECT name FROM {quote('tabComment')} {where}", ref)]
        if comments:
            ctx.db.execute(f"DELETE FROM {quote('tabComment')} {where}", ref)
            changelog.record_deleted(ctx, "Comment", comments)
    if ctx.find_meta("File") is not None and doc.meta.name != "File":
        rows = ctx.db.sql(f"SELECT name FROM {quote('tabFile')} WHERE attached_to_doctype = ? "
                          f"AND attached_to_name = ?", ref)
        if rows:
            # The File controller removes the bytes once the transaction commits.
            trusted = replace(ctx, perms=AllowAll())
            for (file_name,) in rows:
                delete(trusted, "File", file_name)


def insert_record(ctx: "Context", doctype: str, data: dict, *, name: Any = None, later: bool = False) -> Document:
    """Write a record the server keeps for itself (Version, supporting Module Def or Role):
    defaults and stamps only, no hooks, validation or permission checks; the caller builds
    the values from data it has already validated. ``later``: nobody needs to learn now that
    the insert failed (``Connection.execute_later``)."""
    doc = new_doc(ctx, doctype, data)
    doc.name = name if name is not None else naming.make_hash()
    _stamp(ctx, doc, ctx.now())
    (ctx.db.execute_later if later else ctx.db.execute)(insert_sql(doc.meta), row_values(doc))
    changelog.record(ctx, "insert", doc)
    return doc


def insert_trusted(ctx: "Context", doctype: str, data: dict, *, name: Any = None) -> Document:
    """Insert on the system's behalf (Version and Comment records the server writes itself):
    the caller has already been authorised for what caused it."""
    from dataclasses import replace

    from ristretto.model.context import AllowAll
    return insert(replace(ctx, perms=AllowAll()), doctype, data, name=name, force_name=name is not None)


def submit(ctx: "Context", doctype: str, name: Any, data: dict | None = None) -> Document:
    """Submit a draft (see ``lifecycle.submit``)."""
    return lifecycle.submit(ctx, doctype, name, data)


def cancel(ctx: "Context", doctype: str, name: Any) -> Document:
    """Cancel a submitted document (see ``lifecycle.cancel``)."""
    return lifecycle.cancel(ctx, doctype, name)


def set_value(ctx: "Context", doctype: str, name: Any, values: dict) -> Document:
    """Convenience: update some fields of one document."""
    return update(ctx, doctype, name, values)


__all__ = ["Document", "load", "get_doc", "exists", "new_doc", "insert", "update", "delete",
           "save_single", "submit", "cancel", "set_value", "visible_dict", "insert_trusted", "insert_record",
           "OPTIONAL_FIELDS"]
