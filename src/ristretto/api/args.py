"""Building ``form_dict``: the one argument dictionary of a request (Frappe's rules).

JSON object bodies are the arguments (the query string is then ignored); a JSON
array body becomes ``{"data": [...]}``; otherwise query-string and form fields
(urlencoded or multipart) are merged, form fields winning. Repeated keys keep
their first value; ``_`` (cache buster) is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from ristretto.api import jsonargs
from ristretto.api.asgi import Request
from ristretto.exceptions import DataError, ValidationError


@dataclass
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


def _qs(raw: bytes | str, into: dict[str, Any], *, override: bool, max_fields: int, where: str) -> None:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    seen: set[str] = set()
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=max_fields)
    except ValueError:
        # parse_qsl's only ValueError here is its field-count cap: the client's error.
        raise ValidationError(f"Too many fields in the {where} (at most {max_fields})",
                              title="Invalid request") from None
    for k, v in pairs:
        if k in seen:
            continue
        seen.add(k)
        if override or k not in into:
            into[k] = v


def parse_form(req: Request, *, max_fields: int = 2000) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """(form_dict, files) for a request."""
    form: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    body = req.body
    ctype = req.content_type if body else ""
    if body and ctype in ("application/json", "text/json") or (body and ctype.endswith("+json")):
        data = jsonargs.body_value(body)
        if isinstance(data, dict):
            form = data
        elif isinstance(data, list):
            form = {"data": data}
        else:
            raise DataError("Invalid request body: expected a JSON object or array", title="Invalid request")
        form.pop("_", None)
        return form, files
    if req.query_string:
        _qs(req.query_string, form, override=False, max_fields=max_fields, where="query string")
    if body:
        if ctype == "application/x-www-form-urlencoded":
            _qs(body, form, override=True, max_fields=max_fields, where="form body")
        elif ctype == "multipart/form-data":
            _multipart(req, form, files, max_fields)
        elif ctype in ("", "text/plain") and body.lstrip()[:1] in (b"{", b"["):
            # Some clients post JSON without a content type.
            decoded, data = jsonargs.maybe_json(body, "body", limit=len(body))
            if decoded and isinstance(data, dict):
                form.update(data)
    form.pop("_", None)
    return form, files


def _multipart(req: Request, form: dict, files: dict, max_fields: int) -> None:
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(req.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise ValidationError("Multipart body without boundary", title="Invalid request")

    state: dict[str, Any] = {"headers": {}, "field": None, "data": [], "count": 0, "hname": b""}

    def on_part_begin():
        state["headers"], state["data"] = {}, []
        state["count"] += 1
        if state["count"] > max_fields:
            raise ValidationError(f"Too many fields in the multipart body (at most {max_fields})",
                                  title="Invalid request")

    def on_header_field(data, start, end):
        state["hname"] += data[start:end]

    def on_header_value(data, start, end):
        key = state["hname"].decode("latin-1").lower()
        state["headers"][key] = state["headers"].get(key, b"") + data[start:end]

    def on_header_end():
        state["hname"] = b""

    def on_part_data(data, start, end):
        state["data"].append(data[start:end])

    def on_part_end():
        disp = state["headers"].get("content-disposition", b"")
        _, opts = parse_options_header(disp)
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        payload = b"".join(state["data"])
        if b"filename" in opts:
            filename = opts[b"filename"].decode("utf-8", "replace")
            ctype = state["headers"].get("content-type", b"application/octet-stream").decode("latin-1")
            if name and name not in files:
                files[name] = UploadedFile(filename, ctype, payload)
        elif name and name not in form:
            form[name] = payload.decode("utf-8", "replace")

    parser = MultipartParser(boundary, callbacks={
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_part_data": on_part_data, "on_part_end": on_part_end,
    })
    try:
        parser.write(req.body)
        parser.finalize()
    except ValidationError:
        raise
    except Exception as e:  # noqa: BLE001 - malformed multipart is the client's error
        raise ValidationError(f"Malformed multipart body: {e}", title="Invalid request") from None


def truthy_arg(value: Any, default: bool) -> bool:
    """Frappe's reading of ``as_dict`` / ``debug``: true/1 and false/0 in any case."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False if text else default
    return True


def document_payload(form: dict[str, Any], req: Request, meta: Any = None) -> dict[str, Any]:
    """The document a v1 create/update carries: ``data`` argument, else the body, else form_dict;
    with ``meta``, child tables sent as text (form fields) decoded."""
    data = form.get("data")
    if data is not None:
        values = jsonargs.object_arg(data, "data")
    else:
        values = {k: v for k, v in form.items() if k not in ("sid", "cmd", "csrf_token")}
    return jsonargs.table_values(meta, values) if meta is not None else values
