"""``upload_file``, the legacy ``uploadfile`` and ``download_file`` (logic in ``ristretto.api.files``).

Uploads are POST/PUT only (Frappe v1 accepts any verb): a GET must not write, and
would skip the CSRF check of cookie sessions.
"""

from __future__ import annotations

from typing import Any

from ristretto.api import files
from ristretto.api.call import Call
from ristretto.api.registry import whitelist


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
