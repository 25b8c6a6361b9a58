"""File uploads and downloads over real HTTP, on SQLite and PostgreSQL.

``upload_file`` (multipart and base64), storage names, attaching to documents and
Attach fields, ``/files`` and ``/private/files`` with their permission rules and
headers, ``download_file``, size limits, guest uploads, deleting Files, and
hostile input (file names, URLs, traversal) that must end in a 4xx, never a 500
and never in the content of a file outside the files folder.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import uuid
from contextlib import contextmanager
from urllib.parse import quote, urlsplit

import pytest

from tests.conftest import configure_site, make_site, start_server, stop_server

UPLOAD = "/api/method/upload_file"
PW = "files-pw-1"
BOUNDARY = "----ristretto-test-boundary"


# --- helpers ---------------------------------------------------------------------------------

def uid() -> str:
    return uuid.uuid4().hex[:8]


def upload(client, name: str, content: bytes = b"hello", *, ctype: str = "application/octet-stream", **fields):
    """Multipart upload through httpx."""
    data = {k: str(v) for k, v in fields.items()}
    return client.post(UPLOAD, files={"file": (name, content, ctype)}, data=data)


def raw_multipart(client, filename: bytes, content: bytes = b"raw", **fields):
    """Multipart body built by hand: the file name reaches the server byte for byte."""
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
                 + filename + b'"\r\nContent-Type: text/plain\r\n\r\n' + content + b"\r\n")
    body = b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
    return client.post(UPLOAD, content=body, headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})


def message(r) -> dict:
    assert r.status_code == 200, f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:2000]}"
    return r.json()["message"]


def url_path(file_url: str) -> str:
    return quote(file_url)


def raw_get(server, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """GET with the path sent exactly as given (httpx would normalise ``..`` away)."""
    parts = urlsplit(server.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def stored_names(server, private: bool) -> set[str]:
    folder = server.site_dir / ("private" if private else "public") / "files"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


@contextmanager
def login(server, user: str):
    with server.client() as c:
        r = c.post("/api/method/login", json={"usr": user, "pwd": PW})
        assert r.status_code == 200, r.text
        yield c


@pytest.fixture(scope="module")
def users(server):
    """A System Manager, a desk user with no roles of their own, a second one, and a Website User."""
    server.cli("add-user", "fsm@example.com", "--password", PW, "--roles", "System Manager")
    server.cli("add-user", "fplain@example.com", "--password", PW)
    server.cli("add-user", "fother@example.com", "--password", PW)
    server.cli("add-user", "fweb@example.com", "--password", PW)
    with server.admin() as admin:
        r = admin.put("/api/resource/User/fweb@example.com", json={"user_type": "Website User"})
        assert r.status_code == 200, r.text
    return {"sm": "fsm@example.com", "plain": "fplain@example.com", "other": "fother@example.com",
            "web": "fweb@example.com"}


@pytest.fixture(scope="module")
def limited(server, tmp_path_factory, request):
    """A second server on the same backend: ``max_file_size`` 4096 and guest uploads allowed."""
    site_dir = make_site(tmp_path_factory.mktemp(f"limited-{server.backend}"), server.backend, request)
    configure_site(site_dir, max_file_size=4096, allow_guests_to_upload_files=1)
    srv = start_server(site_dir, server.backend)
    yield srv
    stop_server(srv.proc)


# --- upload and read back ------------------------------------------------------------------

def test_public_upload_returns_the_file_and_serves_it(server, admin):
    name = f"hello-{uid()}.txt"
    content = b"hello public world\n"
    doc = message(upload(admin, name, content, ctype="text/plain"))
    assert doc["doctype"] == "File" and doc["owner"] == "Administrator"
    assert doc["file_name"] == name and doc["file_url"] == f"/files/{name}"
    assert doc["is_private"] == 0 and doc["folder"] == "Home" and doc["file_type"] == "TXT"
    assert doc["file_size"] == len(content)
    assert doc["content_hash"] == hashlib.sha256(content).hexdigest()
    assert None not in doc.values()
    assert (server.site_dir / "public" / "files" / name).read_bytes() == content
    # the record is readable through the resource API
    assert admin.get(f"/api/resource/File/{doc['name']}").json()["data"]["file_url"] == doc["file_url"]
    with server.client() as guest:
        r = guest.get(doc["file_url"])
    assert r.status_code == 200 and r.content == content
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-type"].startswith("text/plain")
    assert "content-disposition" not in r.headers  # plain text may show inline
    assert "private" not in r.headers.get("cache-control", "")
    with server.client() as guest:
        head = guest.head(doc["file_url"])
        assert head.status_code == 200 and head.headers["x-content-type-options"] == "nosniff"
        assert guest.put(doc["file_url"], content=b"overwrite?").status_code == 405
        assert guest.delete(doc["file_url"]).status_code == 405
        assert guest.get(doc["file_url"]).content == content


def test_upload_entry_points_and_verbs(server, admin):
    r = admin.post("/api/v1/method/upload_file", files={"file": (f"v1-{uid()}.txt", b"v1")})
    assert message(r)["file_size"] == 2
    r = admin.post("/", params={"cmd": "upload_file"}, files={"file": (f"cmd-{uid()}.txt", b"cmd")})
    assert message(r)["file_size"] == 3
    # an upload is a write: never through GET
    r = admin.get(UPLOAD, params={"file_url": "https://example.com/x.pdf"})
    assert r.status_code == 403 and r.json()["exc_type"] == "PermissionError"


def test_private_upload_needs_permission_to_read(server, admin, users):
    name = f"secret-{uid()}.pdf"
    content = b"%PDF-1.4 private"
    doc = message(upload(admin, name, content, is_private=1))
    assert doc["is_private"] == 1 and doc["file_url"] == f"/private/files/{name}"
    assert (server.site_dir / "private" / "files" / name).read_bytes() == content
    assert not (server.site_dir / "public" / "files" / name).exists()
    path = url_path(doc["file_url"])
    r = admin.get(path)
    assert r.status_code == 200 and r.content == content
    assert r.headers["cache-control"] == "private"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-type"] == "application/pdf"
    with server.client() as guest:
        r = guest.get(path)
        assert r.status_code == 403 and content not in r.content
        # a public URL of the same name does not exist
        assert guest.get(f"/files/{name}").status_code == 404
    # an unattached private file of someone else: System Managers only
    with login(server, users["sm"]) as c:
        assert c.get(path).content == content
    for user in ("plain", "web"):
        with login(server, users[user]) as c:
            r = c.get(path)
            assert r.status_code == 403 and content not in r.content
    # no record and no permission look the same
    with login(server, users["plain"]) as c:
        assert c.get("/private/files/does-not-exist.pdf").status_code == 403


def test_private_file_attached_to_todo_follows_the_todo(server, admin, users):
    todo = admin.post("/api/resource/ToDo", json={"description": "with attachment",
                                                  "allocated_to": users["plain"]}).json()["data"]
    content = b"attached private bytes"
    doc = message(upload(admin, f"todo-{uid()}.txt", content, is_private=1, doctype="ToDo", docname=todo["name"]))
    assert doc["attached_to_doctype"] == "ToDo" and doc["attached_to_name"] == todo["name"]
    assert doc["folder"] == "Home/Attachments"
    assert "attached_to_field" not in doc
    path = url_path(doc["file_url"])
    # the ToDo is allocated to plain: they may read it, so they may read its file
    with login(server, users["plain"]) as c:
        r = c.get(path)
        assert r.status_code == 200 and r.content == content
    # other cannot read that ToDo (Frappe's ToDo rule), so not its file either
    with login(server, users["other"]) as c:
        assert c.get(path).status_code == 403
        r = c.get("/api/method/download_file", params={"file_url": doc["file_url"]})
        assert r.status_code == 403
        # and cannot attach files to it
        r = upload(c, "intruder.txt", b"x", doctype="ToDo", docname=todo["name"])
        assert r.status_code == 403
    # attaching to a missing document: 404 and nothing stored
    before = stored_names(server, False)
    r = upload(admin, f"orphan-{uid()}.txt", b"x", doctype="ToDo", docname="no-such-todo")
    assert r.status_code == 404
    assert stored_names(server, False) == before


def test_upload_into_attach_field_of_custom_doctype(server, admin):
    dt = f"FT Doc {uid()}"
    r = admin.post("/api/resource/DocType", json={
        "name": dt, "module": "Custom", "custom": 1,
        "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"},
                   {"fieldname": "attachment", "fieldtype": "Attach", "label": "Attachment"},
                   {"fieldname": "picture", "fieldtype": "Attach Image", "label": "Picture"}],
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]})
    assert r.status_code == 200, r.text
    target = admin.post(f"/api/resource/{quote(dt)}", json={"title": "one"}).json()["data"]
    doc = message(upload(admin, f"spec-{uid()}.pdf", b"%PDF spec", doctype=dt, docname=target["name"],
                         fieldname="attachment"))
    assert doc["attached_to_field"] == "attachment"
    pic = message(upload(admin, f"pic-{uid()}.png", b"\x89PNG\r\n\x1a\n", doctype=dt, docname=target["name"],
                         fieldname="picture", is_private=1))
    saved = admin.get(f"/api/resource/{quote(dt)}/{target['name']}").json()["data"]
    assert saved["attachment"] == doc["file_url"] and saved["picture"] == pic["file_url"]
    # a fieldname that is not an Attach field is only recorded
    other = message(upload(admin, f"t-{uid()}.txt", b"t", doctype=dt, docname=target["name"], fieldname="title"))
    assert other["attached_to_field"] == "title"
    assert admin.get(f"/api/resource/{quote(dt)}/{target['name']}").json()["data"]["title"] == "one"


# --- storage names -------------------------------------------------------------------------

HOSTILE = [
    b"../../x-trav.txt", b"..\\..\\x-back.txt", b"a\x00b.txt", b"nul\x00/../../etc/passwd",
    ("n" * 1000 + ".txt").encode(), "Ünïcødé 文件.txt".encode(), b".htaccess", b"dir/sub/named.txt",
    b"/abs/olute.txt", b"C:\\Windows\\win.ini", b"ctrl\r\nX-Injected: 1.txt", b"..report.txt",
    b"<img src=x onerror=alert(1)>.txt", b"q?a#b%2e.txt", "\u202egpj.exe".encode(), b"bad-utf8-\xff\xfe.txt",
]


@pytest.mark.parametrize("raw", HOSTILE, ids=lambda r: repr(r[:30]))
def test_hostile_file_names_are_stored_safely(server, admin, raw):
    content = b"payload " + raw
    r = raw_multipart(admin, raw, content)
    assert r.status_code == 200, r.text
    doc = r.json()["message"]
    name = doc["file_name"]
    assert name and not any(c in name for c in "/\\\x00\r\n") and ".." not in name and not name.startswith(".")
    assert len(name) <= 140 and len(name.encode()) < 255
    assert doc["file_url"] == "/files/" + name
    folder = (server.site_dir / "public" / "files").resolve()
    stored = (folder / name).resolve()
    assert stored.parent == folder and stored.read_bytes() == content
    with server.client() as guest:
        r = guest.get(url_path(doc["file_url"]))
    assert r.status_code == 200 and r.content == content


def test_names_that_need_no_cleaning_are_kept(server, admin):
    for name in (f"invoice-2024-{uid()}.pdf", f"Übersicht März {uid()}.xlsx", f"Ünïcødé 文件 {uid()}.txt"):
        doc = message(upload(admin, name, b"same name"))
        assert doc["file_name"] == name and doc["file_url"] == f"/files/{name}"
        r = admin.get(url_path(doc["file_url"]))
        assert r.status_code == 200 and r.content == b"same name"
    # a download names the file in both header forms (RFC 6266)
    r = admin.get("/api/method/download_file", params={"file_url": doc["file_url"]})
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="') and f"filename*=UTF-8''{quote(name)}" in disposition


def test_specific_cleanings(server, admin):
    u = uid()
    expect = {f"../../kept-{u}.txt".encode(): f"kept-{u}.txt", f".htaccess{u}".encode(): f"htaccess{u}",
              f"dir/sub/{u}.txt".encode(): f"{u}.txt", f"a\x00b{u}.txt".encode(): f"ab{u}.txt",
              f"..dots{u}..txt".encode(): f"dots{u}.txt", f"..\\..\\back{u}.txt".encode(): f"back{u}.txt"}
    for raw, name in expect.items():
        assert raw_multipart(admin, raw).json()["message"]["file_name"] == name
    long = raw_multipart(admin, ("ü" * 1000 + ".pdf").encode()).json()["message"]["file_name"]
    assert long.endswith(".pdf") and len(long) <= 140


@pytest.mark.parametrize("raw", [b"", b"...", b"/", b"../..", b"\x00\x01", b" . "])
def test_names_empty_after_cleaning_are_417(server, admin, raw):
    before = stored_names(server, False)
    r = raw_multipart(admin, raw)
    assert r.status_code == 417 and r.json()["exc_type"] == "ValidationError"
    assert stored_names(server, False) == before


def test_same_name_twice_does_not_overwrite(server, admin):
    name = f"dup-{uid()}.txt"
    first = message(upload(admin, name, b"first"))
    second = message(upload(admin, name, b"second"))
    assert first["file_name"] == name and second["file_name"] != name
    assert second["file_name"].endswith(".txt") and second["file_name"].startswith(name[:-4])
    with server.client() as guest:
        assert guest.get(first["file_url"]).content == b"first"
        assert guest.get(url_path(second["file_url"])).content == b"second"
    # a private file of the same name is stored apart
    third = message(upload(admin, name, b"third", is_private=1))
    assert third["file_url"] == f"/private/files/{name}"
    assert admin.get(third["file_url"]).content == b"third"


# --- served headers ------------------------------------------------------------------------

@pytest.mark.parametrize("ext,ctype", [("html", "text/html"), ("htm", "text/html"), ("svg", "image/svg+xml"),
                                       ("xml", "text/xml"), ("js", "application/javascript"),
                                       ("exe", "application/octet-stream"), ("noext", None)])
def test_active_content_is_served_as_attachment(server, admin, ext, ctype):
    name = f"active-{uid()}" + ("" if ext == "noext" else f".{ext}")
    body = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(document.domain)</script></svg>"
    for private in (0, 1):
        doc = message(upload(admin, name, body, is_private=private))
        r = admin.get(url_path(doc["file_url"]))
        assert r.status_code == 200 and r.content == body
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["content-type"].split(";")[0] == (ctype or "application/octet-stream")
        assert "sandbox" in r.headers["content-security-policy"]


def test_safe_images_are_inline_and_download_file_forces_attachment(server, admin):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    doc = message(upload(admin, f"pic-{uid()}.png", png))
    with server.client() as guest:
        r = guest.get(doc["file_url"])
        assert r.headers["content-type"] == "image/png" and "content-disposition" not in r.headers
        assert r.headers["x-content-type-options"] == "nosniff"
        r = guest.get("/api/method/download_file", params={"file_url": doc["file_url"]})
        assert r.status_code == 200 and r.content == png
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["x-content-type-options"] == "nosniff"
        # through cmd= as well; POST is not a download verb
        assert guest.get("/", params={"cmd": "download_file", "file_url": doc["file_url"]}).content == png
        assert guest.post("/api/method/download_file", data={"file_url": doc["file_url"]}).status_code == 403


def test_download_file_of_private_file(server, admin, users):
    doc = message(upload(admin, f"dl-{uid()}.txt", b"private via rpc", is_private=1))
    r = admin.get("/api/method/download_file", params={"file_url": doc["file_url"]})
    assert r.status_code == 200 and r.content == b"private via rpc"
    assert r.headers["cache-control"] == "private"
    with server.client() as guest:
        assert guest.get("/api/method/download_file", params={"file_url": doc["file_url"]}).status_code == 403
    with login(server, users["plain"]) as c:
        assert c.get("/api/method/download_file", params={"file_url": doc["file_url"]}).status_code == 403
    for bad in ("/files/../site_config.json", "/etc/passwd", "/private/files/../../site_config.json",
                "https://example.com/x", "/files/no-such-file.txt"):
        r = admin.get("/api/method/download_file", params={"file_url": bad})
        assert r.status_code in (403, 404), (bad, r.status_code)
        assert b"db_url" not in r.content and b"root:" not in r.content
    assert admin.get("/api/method/download_file").status_code == 417  # missing argument


# --- traversal -----------------------------------------------------------------------------

TRAVERSALS = [
    "/files/../site_config.json", "/files/%2e%2e/site_config.json", "/files/%2e%2e%2fsite_config.json",
    "/files/..%2fsite_config.json", "/files/..%2f..%2fsite_config.json", "/files/..%5csite_config.json",
    "/files/%2e%2e%5c..%5csite_config.json", "/private/files/../../site_config.json",
    "/private/files/..%2f..%2fsite_config.json", "/files//etc/passwd", "/files/%2fetc%2fpasswd",
    "/private/files/%2fetc%2fpasswd", "/files/", "/private/files/", "/files/..", "/files/.", "/files/%00",
    "/files/site_config.json%00.txt", "/files/.upload-x.tmp", "/files/%2e%2e", "/private/files/..",
    "/files/./../site_config.json", "/files/....//site_config.json",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_on_download_is_404(server, path):
    for headers in ({}, {"Authorization": f"token {server.api_key}:{server.api_secret}"}):
        status, _, body = raw_get(server, path, headers)
        assert status == 404, (path, status, body[:200])
        assert b"db_url" not in body and b"root:" not in body


def test_symlink_out_of_the_files_folder_is_not_followed(server, admin):
    folder = server.site_dir / "public" / "files"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / f"link-{uid()}.txt"
    os.symlink(server.site_dir / "site_config.json", link)
    try:
        status, _, body = raw_get(server, f"/files/{link.name}")
        assert status == 404 and b"db_url" not in body
        # nor registered as a file of the site
        r = admin.post(UPLOAD, data={"file_url": f"/files/{link.name}"})
        assert r.status_code == 417
    finally:
        link.unlink()


# --- file_url and base64 ---------------------------------------------------------------------

def test_file_url_registration(server, admin, users):
    original = message(upload(admin, f"reg-{uid()}.txt", b"registered bytes"))
    again = message(admin.post(UPLOAD, data={"file_url": original["file_url"], "doctype": "", "folder": "Home"}))
    assert again["name"] != original["name"] and again["file_url"] == original["file_url"]
    assert again["file_size"] == original["file_size"] and again["content_hash"] == original["content_hash"]
    ext = message(admin.post(UPLOAD, json={"file_url": "https://example.com/docs/report.pdf", "is_private": 1}))
    assert ext["file_url"] == "https://example.com/docs/report.pdf" and ext["is_private"] == 0
    assert ext["file_name"] == "report.pdf" and ext["file_type"] == "PDF" and "content_hash" not in ext
    named = message(admin.post(UPLOAD, json={"file_url": "http://example.com/", "file_name": "home page"}))
    assert named["file_name"] == "home page"
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "/etc/passwd", "/files/../site_config.json",
                "/files/no-such-file.txt", "ftp://example.com/x", "//example.com/x", "data:text/html,<b>x</b>",
                "http://", "http://exa mple.com/x", "/private/files/", "http://[::1/x", "/api/method/ping"):
        r = admin.post(UPLOAD, json={"file_url": bad})
        assert r.status_code == 417, (bad, r.status_code, r.text[:300])
    # registering someone else's private file does not grant access to it
    private = message(upload(admin, f"theirs-{uid()}.txt", b"not yours", is_private=1))
    with login(server, users["plain"]) as c:
        r = c.post(UPLOAD, json={"file_url": private["file_url"]})
        assert r.status_code == 403
        assert c.get(url_path(private["file_url"])).status_code == 403
        r = c.post("/api/resource/File", json={"file_url": private["file_url"], "file_name": "x"})
        assert r.status_code == 403
    # nothing to store
    r = admin.post(UPLOAD, json={"folder": "Home"})
    assert r.status_code == 417


def test_base64_filedata(server, admin):
    content = "base64 content ✓".encode()
    name = f"b64-{uid()}.txt"
    doc = message(admin.post(UPLOAD, json={"filedata": base64.b64encode(content).decode(), "filename": name}))
    assert doc["file_name"] == name and doc["file_size"] == len(content)
    assert admin.get(doc["file_url"]).content == content
    data_url = "data:text/plain;base64," + base64.b64encode(b"from a data url").decode()
    doc = message(admin.post(UPLOAD, data={"filedata": data_url, "filename": "../../du.txt", "is_private": "1"}))
    assert doc["file_name"].startswith("du") and doc["is_private"] == 1
    assert admin.get(url_path(doc["file_url"])).content == b"from a data url"
    r = admin.post(UPLOAD, json={"filedata": "not base64 at all!!!", "filename": "x.txt"})
    assert r.status_code == 417
    r = admin.post(UPLOAD, json={"filedata": ["a"], "filename": "x.txt"})
    assert r.status_code == 417
    r = admin.post(UPLOAD, json={"filedata": base64.b64encode(b"x").decode()})
    assert r.status_code == 417  # no name


def test_legacy_uploadfile(server, admin):
    todo = admin.post("/api/resource/ToDo", json={"description": "legacy"}).json()["data"]
    r = admin.post("/api/method/uploadfile", data={
        "from_form": "1", "doctype": "ToDo", "docname": todo["name"], "filename": f"legacy-{uid()}.txt",
        "filedata": base64.b64encode(b"legacy bytes").decode(), "is_private": "0"})
    doc = message(r)
    assert doc["attached_to_name"] == todo["name"] and admin.get(doc["file_url"]).content == b"legacy bytes"
    with server.client() as guest:
        assert guest.post("/api/method/uploadfile", data={"filename": "g.txt", "filedata": "eA=="}).status_code == 403


def test_is_private_integer_semantics(server, admin):
    for value, expected in (("1", 1), ("0", 0), ("TRUE", 0), ("1.0", 1), ("", 0)):
        doc = message(upload(admin, f"p-{uid()}.txt", b"p", is_private=value))
        assert doc["is_private"] == expected, value


def test_unknown_folder_and_bad_multipart_are_client_errors(server, admin):
    before = stored_names(server, False)
    r = upload(admin, f"folder-{uid()}.txt", b"x", folder="No Such Folder")
    assert r.status_code == 417
    assert stored_names(server, False) == before  # the written bytes were removed
    r = admin.post(UPLOAD, content=b"--nope\r\nbroken", headers={"Content-Type": "multipart/form-data"})
    assert 400 <= r.status_code < 500
    r = admin.post(UPLOAD, content=b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n",
                   headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert 400 <= r.status_code < 500


# --- guests and limits -----------------------------------------------------------------------

def test_guest_upload_refused_by_default(server):
    before = stored_names(server, False)
    with server.client() as guest:
        r = upload(guest, "guest.png", b"\x89PNG")
        assert r.status_code == 403 and r.json()["exc_type"] == "PermissionError"
        r = guest.post(UPLOAD, json={"file_url": "https://example.com/x.png"})
        assert r.status_code == 403
    assert stored_names(server, False) == before


def test_website_user_only_uploads_allowed_types(server, users):
    with login(server, users["web"]) as c:
        doc = message(upload(c, f"web-{uid()}.pdf", b"%PDF web"))
        assert doc["owner"] == users["web"]
        r = upload(c, f"web-{uid()}.html", b"<script>x</script>")
        assert r.status_code == 417
        assert "You can only upload JPG, PNG, PDF, TXT or Microsoft documents." in r.text


def test_size_limit_and_guest_uploads_when_allowed(limited):
    with limited.admin() as admin:
        ok = message(upload(admin, "small.txt", b"s" * 1000))
        assert ok["file_size"] == 1000
        before = stored_names(limited, False)
        r = upload(admin, "big.txt", b"b" * 5000)
        assert r.status_code == 413 and r.json()["exc_type"] == "RequestEntityTooLarge"
        r = admin.post(UPLOAD, json={"filedata": base64.b64encode(b"b" * 5000).decode(), "filename": "big.txt"})
        assert r.status_code == 413
        assert stored_names(limited, False) == before
    with limited.client() as guest:
        doc = message(upload(guest, "guest.png", b"\x89PNG guest"))
        assert doc["owner"] == "Guest" and guest.get(doc["file_url"]).content == b"\x89PNG guest"
        r = upload(guest, "guest.svg", b"<svg/>")
        assert r.status_code == 417
        r = guest.post(UPLOAD, json={"file_url": "/files/guest.png"})
        assert r.status_code == 403
        # a guest cannot read private files, even their own
        private = message(upload(guest, "guest-private.txt", b"gp", is_private=1))
        assert guest.get(private["file_url"]).status_code == 403


# --- deleting --------------------------------------------------------------------------------

def test_deleting_the_file_removes_the_bytes(server, admin):
    doc = message(upload(admin, f"del-{uid()}.txt", b"to delete", is_private=1))
    on_disk = server.site_dir / "private" / "files" / doc["file_name"]
    assert on_disk.exists()
    assert admin.delete(f"/api/resource/File/{doc['name']}").status_code == 202
    assert not on_disk.exists()
    assert admin.get(doc["file_url"]).status_code == 403  # no record left: nobody may read it


def test_shared_file_url_keeps_the_bytes_until_the_last_record(server, admin):
    first = message(upload(admin, f"shared-{uid()}.txt", b"shared"))
    second = message(admin.post(UPLOAD, data={"file_url": first["file_url"]}))
    on_disk = server.site_dir / "public" / "files" / first["file_name"]
    assert admin.delete(f"/api/resource/File/{first['name']}").status_code == 202
    assert on_disk.exists()
    assert admin.delete(f"/api/resource/File/{second['name']}").status_code == 202
    assert not on_disk.exists()
    with server.client() as guest:
        assert guest.get(first["file_url"]).status_code == 404


def test_file_record_changes_and_deletes_are_checked(server, admin, users):
    doc = message(upload(admin, f"mine-{uid()}.txt", b"mine", is_private=1))
    r = admin.put(f"/api/resource/File/{doc['name']}", json={"file_url": "/files/other.txt"})
    assert r.status_code == 417
    r = admin.put(f"/api/resource/File/{doc['name']}", json={"content_hash": "0" * 64, "file_size": 1})
    assert r.status_code == 200
    assert r.json()["data"]["content_hash"] == doc["content_hash"] and r.json()["data"]["file_size"] == 4
    with login(server, users["plain"]) as c:
        assert c.delete(f"/api/resource/File/{doc['name']}").status_code == 403
    assert (server.site_dir / "private" / "files" / doc["file_name"]).exists()
    assert admin.delete("/api/resource/File/Home").status_code == 417


def test_private_file_records_are_hidden_from_other_users(server, admin):
    """Not only the bytes: names and URLs of private files are not listed to other users."""
    r = admin.post("/api/method/upload_file", files={"file": ("secret-plan.txt", b"top secret")},
                   data={"is_private": "1"})
    assert r.status_code == 200, r.text
    private = r.json()["message"]
    r = admin.post("/api/method/upload_file", files={"file": ("public-note.txt", b"hello")}, data={"is_private": "0"})
    public = r.json()["message"]
    server.cli("add-user", "filepeek@example.com", "--password", "peek-pw-1")
    with server.client() as c:
        assert c.post("/api/method/login", json={"usr": "filepeek@example.com", "pwd": "peek-pw-1"}).status_code == 200
        names = {row["name"] for row in c.get("/api/resource/File", params={"limit_page_length": 0}).json()["data"]}
        assert public["name"] in names and private["name"] not in names
        assert c.get(f"/api/resource/File/{private['name']}").status_code == 403
        assert c.get(f"/api/resource/File/{public['name']}").status_code == 200


def test_client_attach_file(admin):
    import base64 as b64
    todo = admin.post("/api/resource/ToDo", json={"description": "attach target"}).json()["data"]["name"]
    r = admin.post("/api/method/frappe.client.attach_file", json={
        "filename": "notes.txt", "filedata": b64.b64encode(b"attached bytes").decode(), "decode_base64": 1,
        "doctype": "ToDo", "docname": todo, "is_private": 1})
    assert r.status_code == 200, r.text
    f = r.json()["message"]
    assert f["attached_to_doctype"] == "ToDo" and f["attached_to_name"] == todo and f["is_private"] == 1
    assert admin.get(f["file_url"]).content == b"attached bytes"
    r = admin.post("/api/method/frappe.client.attach_file", json={
        "filename": "plain.txt", "filedata": "plain text", "doctype": "ToDo", "docname": todo})
    assert r.status_code == 200 and admin.get(r.json()["message"]["file_url"]).content == b"plain text"
    assert admin.get("/api/method/frappe.client.attach_file",
                     params={"filename": "x.txt", "filedata": "x", "doctype": "ToDo", "docname": todo}).status_code == 403
    r = admin.post("/api/method/frappe.client.attach_file", json={
        "filename": "x.txt", "filedata": "x", "doctype": "ToDo", "docname": "missing-doc"})
    assert r.status_code == 404


def test_deleting_a_document_removes_its_attachments_and_comments(server, admin):
    todo = admin.post("/api/resource/ToDo", json={"description": "with attachments"}).json()["data"]["name"]
    r = admin.post("/api/method/upload_file", files={"file": ("att-gone.txt", b"bye")},
                   data={"doctype": "ToDo", "docname": todo, "is_private": "1"})
    f = r.json()["message"]
    admin.post("/api/method/frappe.desk.form.utils.add_comment",
               json={"reference_doctype": "ToDo", "reference_name": todo, "content": "soon gone"})
    path = server.site_dir / "private" / "files" / f["file_name"]
    assert path.exists()
    assert admin.delete(f"/api/resource/ToDo/{todo}").status_code == 202
    assert admin.get(f"/api/resource/File/{f['name']}").status_code == 404
    assert not path.exists()
    comments = admin.get("/api/resource/Comment", params={"filters": json.dumps({"reference_name": todo})})
    assert comments.json()["data"] == []


def test_delete_refused_by_a_link_keeps_the_file_bytes(server, admin):
    r = admin.post("/api/method/upload_file", files={"file": ("kept.txt", b"keep me")}, data={"is_private": "0"})
    f = r.json()["message"]
    path = server.site_dir / "public" / "files" / f["file_name"]
    # A document linking to the File blocks its deletion.
    admin.post("/api/resource/DocType", json={
        "name": "File Holder", "module": "Custom", "custom": 1,
        "fields": [{"fieldname": "file", "fieldtype": "Link", "label": "File", "options": "File"}],
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]})
    assert admin.post("/api/resource/File Holder", json={"file": f["name"]}).status_code == 200
    assert admin.delete(f"/api/resource/File/{f['name']}").status_code == 417
    assert path.exists() and admin.get(f["file_url"]).content == b"keep me"
