"""``upload_file``, the legacy ``uploadfile`` and ``download_file`` (logic in ``ristretto.api.files``).

Uploads are POST/PUT only (Frappe v1 accepts any verb): a GET must not write, and
would skip the CSRF check of cookie sessions.
"""

from __future__ import annotations

import base64
from typing import Any

from ristretto.api import files
from ristretto.api.call import Call
from ristretto.whitelist import whitelist
from ristretto.exceptions import ValidationError
from ristretto.meta.fieldtypes import cint


@whitelist("upload_file", methods=["POST", "PUT"], allow_guest=True)
def upload_file(call: Call, **kwargs: Any):
    return files.upload(call, call.form)


@whitelist("uploadfile", methods=["POST", "PUT"])
def uploadfile(call: Call, **kwargs: Any):
    """Frappe's desk-era form: ``docfield``, ``filename`` and base64 ``filedata``.

    Frappe answers any error here with a bare 500; errors are ordinary 4xx here.
    """
    form = dict(call.form)
    if form.get("docfield") not in (None, ""):
        form["fieldname"] = form["docfield"]
    if form.get("filename") not in (None, ""):
        form["file_name"] = form["filename"]
    return files.upload(call, form)


@whitelist("download_file", methods=["GET"], allow_guest=True)
def download_file(call: Call, file_url: Any):
    # A raw Response: the router sends it as it is instead of a {"message": ...} body.
    return files.download_file(call, file_url)


@whitelist("frappe.client.attach_file", methods=["POST", "PUT"])
def attach_file(call: Call, filename: str | None = None, filedata: Any = None, doctype: str | None = None,
                docname: str | None = None, folder: str | None = None, decode_base64: Any = False,
                is_private: Any = None, docfield: str | None = None):
    """Attach inline content to a document (base64 when ``decode_base64``); returns the File."""
    if not doctype or not docname:
        raise ValidationError("doctype and docname are required", title="Missing argument")
    if filedata is None or filedata == "":
        raise ValidationError("filedata is required", title="Missing argument")
    if not cint(decode_base64):
        raw = filedata.encode() if isinstance(filedata, str) else filedata
        if not isinstance(raw, (bytes, bytearray)):
            raise ValidationError("filedata must be text", title="Invalid file data")
        filedata = base64.b64encode(raw).decode()
    form = {"filename": filename, "filedata": filedata, "doctype": doctype, "docname": docname,
            "folder": folder, "is_private": is_private}
    if docfield:
        form["fieldname"] = docfield
    return files.upload(call, {k: v for k, v in form.items() if v is not None})
