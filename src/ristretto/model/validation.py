"""Field validation of a document before it is written.

Each check raises the exception Frappe raises for it (all 417 except where the
exception class says otherwise) and adds one user-facing message per problem.
"""

from __future__ import annotations

import re
import string
from typing import TYPE_CHECKING, Any

from ristretto.db.dialects import quote
from ristretto.exceptions import (
    CharacterLengthExceededError, InvalidEmailAddressError, InvalidPhoneNumberError,
    LinkValidationError, MandatoryError, NonNegativeError, UniqueValidationError, ValidationError,
)
from ristretto.model.writeplan import write_plan

if TYPE_CHECKING:
    from ristretto.model.context import Context
    from ristretto.model.document import Document

# An e-mail address is checked by splitting, not by a regex whose domain part could backtrack
# over every dot of a crafted value (quadratic time).
_EMAIL_LOCAL = frozenset(string.ascii_letters + string.digits + "._%+'-!#$&*/=?^`{|}~")
_EMAIL_HOST = frozenset(string.ascii_letters + string.digits + ".-")
_PHONE = re.compile(r"^[0-9+\-() .]{1,30}$")
_URL = re.compile(r"^(https?|ftp)://[^\s]+$", re.I)
_EMPTY_HTML = re.compile(r"^(\s|<p>|</p>|<br\s*/?>|<div>|</div>|&nbsp;)*$", re.I)


def is_email(text: str) -> bool:
    """local@host.tld: one ``@``, allowed characters, a top-level domain of two or more letters."""
    local, at, domain = text.partition("@")
    host, dot, tld = domain.rpartition(".")
    return bool(at and local and host and len(tld) >= 2) and tld.isascii() and tld.isalpha() \
        and set(local) <= _EMAIL_LOCAL and set(host) <= _EMAIL_HOST


def check_scalar(value: Any, fieldname: str, row_label: str = "") -> None:
    """Refuse a JSON object or array where one value is expected (a name, a standard field).

    Such values are never repaired into text: the client's data is wrong, and a dict
    used as a key or bound as a parameter would fail deep inside the server.
    """
    if isinstance(value, (dict, list, tuple, set)):
        kind = "an object" if isinstance(value, dict) else "a list"
        raise ValidationError(f"{row_label}Value for {fieldname} must be a single value, not {kind}",
                              title="Invalid value")


def _is_empty(value: Any, fieldtype: str) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        if not value.strip():
            return True
        if fieldtype in ("Text Editor", "HTML Editor") and _EMPTY_HTML.match(value):
            return True
    if isinstance(value, list) and not value:
        return True
    return False


def check_mandatory(ctx: "Context", doc: "Document") -> None:
    missing: list[str] = []
    labels: list[str] = []
    for f in write_plan(doc.meta).mandatory:
        if not f.fieldname:
            continue
        if f.is_table:
            if not doc.children.get(f.fieldname):
                missing.append(f.fieldname)
                labels.append(f"Error: Data missing in table: {f.label}")
            continue
        if not f.has_column:
            continue
        if _is_empty(doc.get(f.fieldname), f.fieldtype):
            missing.append(f.fieldname)
            labels.append(f"Error: Value missing for {doc.meta.name}: {f.label}")
    for tf in doc.meta.table_fields:
        for row in doc.children.get(tf.fieldname, []):
            for f in write_plan(row.meta).mandatory:
                if f.has_column and _is_empty(row.get(f.fieldname), f.fieldtype):
                    missing.append(f.fieldname)
                    labels.append(f"Error: {tf.label} Row #{row.get('idx')}: Value missing for: {f.label}")
    if missing:
        for text in labels:
            ctx.msgprint(text, title="Missing Fields", indicator="red")
        raise MandatoryError(f"[{doc.meta.name}, {doc.name}]: {', '.join(missing)}",
                             title="Missing Fields")


def check_values(ctx: "Context", doc: "Document", row_label: str = "") -> None:
    """Select options, lengths, Data formats and non-negative numbers."""
    meta = doc.meta
    d = doc.d
    # Only the fields with something to check, in field order (the first problem is reported).
    for f, max_length, options, data_format, non_negative in write_plan(meta).value_checks:
        value = d.get(f.fieldname)
        if value is None or value == "":
            continue
        if non_negative:
            if value < 0:
                raise NonNegativeError(f"{row_label}Value cannot be negative for {meta.name}: {f.label}")
            continue
        if max_length and isinstance(value, str) and len(value) > max_length:
            raise CharacterLengthExceededError(
                f"{row_label}{f.label}: '{value[:20]}...' will get truncated, as max characters "
                f"allowed is {max_length}", title="Value too big")
        if options is not None:
            if value not in options:
                raise ValidationError(
                    f"{row_label}{f.label} cannot be \"{value}\". It should be one of "
                    + ", ".join(f'"{o}"' for o in options), title="Invalid value")
        elif data_format:
            _check_data_format(f, str(value), row_label)


def _check_data_format(f, value: str, row_label: str) -> None:
    opt = f.options.strip()
    if opt == "Email":
        for part in (p.strip() for p in value.split(",")):
            if part and not is_email(part):
                raise InvalidEmailAddressError(f"{row_label}{part} is not a valid Email Address",
                                               title="Invalid Email Address")
    elif opt == "Phone":
        if not _PHONE.match(value):
            raise InvalidPhoneNumberError(f"{row_label}{value} is not a valid Phone Number",
                                          title="Invalid Phone Number")
    elif opt == "URL":
        if not _URL.match(value):
            raise ValidationError(f"{row_label}'{value}' is not a valid URL", title="Invalid URL")
    elif opt == "Name":
        if re.search(r"[<>%'\"#*?`]", value):
            raise ValidationError(f"{row_label}{value} is not a valid Name", title="Invalid Name")


def check_links(ctx: "Context", doc: "Document", row_label: str = "") -> None:
    """Link and Dynamic Link values must name existing documents (unknown target DocTypes are tolerated)."""
    meta = doc.meta
    for f in write_plan(meta).links:
        value = doc.d.get(f.fieldname)
        if value in (None, ""):
            continue
        if f.fieldtype == "Link":
            target_name = f.options
        else:
            target_name = doc.d.get(f.options) if f.options else None
            if not target_name:
                raise ValidationError(f"{row_label}{meta.get_field(f.options).label if meta.get_field(f.options) else f.options} must be set first",
                                      title="Missing value")
        if not target_name:
            continue
        target = ctx.find_meta(str(target_name))
        if target is None:
            if f.fieldtype == "Dynamic Link":
                raise LinkValidationError(f"{row_label}Could not find {f.label}: {value}",
                                          title="Invalid link")
            continue  # dangling Link target: tolerated, as Frappe exports reference other apps
        if target.issingle:
            if value != target.name:
                raise LinkValidationError(f"{row_label}Could not find {f.label}: {value}", title="Invalid link")
            continue
        sql = target.sql_cache.get("exists")
        if sql is None:
            sql = target.sql_cache["exists"] = f"SELECT 1 FROM {quote(target.table)} WHERE name = ?"
        key = int(value) if target.name_is_int and str(value).isdigit() else value
        if target.name_is_int and not isinstance(key, int):
            raise LinkValidationError(f"{row_label}Could not find {f.label}: {value}", title="Invalid link")
        if ctx.db.one(sql, (key,)) is None:
            ctx.msgprint(f"{row_label}Could not find {f.label}: {value}", title="Message", indicator="red")
            raise LinkValidationError(f"{row_label}Could not find {f.label}: {value}", title="Invalid link")


def check_unique(ctx: "Context", doc: "Document") -> None:
    meta = doc.meta
    for f in write_plan(meta).unique:
        value = doc.d.get(f.fieldname)
        if value in (None, ""):
            continue
        sql = f"SELECT name FROM {quote(meta.table)} WHERE {quote(f.fieldname)} = ?"
        params: list = [value]
        if doc.name is not None:
            sql += " AND name != ?"
            params.append(doc.name)
        row = ctx.db.one(sql + " LIMIT 1", params)
        if row is not None:
            raise UniqueValidationError(f"{f.label} must be unique: {value} is already used by {row[0]}",
                                        title="Duplicate value")
