"""File bytes in an S3-compatible bucket (``file_storage: "s3"``), following the File rows.

Keys: ``<s3_prefix>files/<name>`` (public), ``<s3_prefix>private/files/<name>`` (private) and
pending markers ``<s3_prefix>.pending/<one of those>``. Nothing is ever made public in the
bucket: every byte is served by Ristretto after its checks (``ristretto.api.files``), never by a
redirect to the bucket.

S3 has no rename and no lock, so the local protocol (``ristretto.api.filestore``) becomes:

* **Upload.** Claim the name with its marker (a create-only ``PUT``, ``If-None-Match: *``), then
  store the bytes under the final key, create-only too (a name taken by another object makes the
  upload try the next candidate name); then the File row commits. After the commit the marker
  goes; after a rollback the object goes, then the marker.
* **Delete.** The object goes once the delete of its last File row has committed.
* **Sweep** (every worker start, ``ristretto sweep-files``). A marker older than
  :data:`PENDING_GRACE` is a dead request's: a File row with its URL keeps the object (only the
  marker goes), none removes both. Younger markers may belong to requests in flight on any
  server and are left alone (there are no locks to ask). ``--orphans`` also removes objects that
  no File row names.

Crash windows (the row and its commit are the only truth):

* marker without object, or object before the commit: no row, the sweep removes both after the
  grace period; after the commit, before the marker goes: the row exists, the sweep removes the
  marker. So no committed row is ever without its object, and an object whose row did not
  commit is gone after at most the grace period and the next sweep.
* a request that stored its object but then waits longer than :data:`PENDING_GRACE` before its
  commit could lose the object to a sweep: the upload refuses to use bytes stored more than
  :data:`MAX_PENDING_AGE` before its second pass, which leaves only a commit itself taking
  longer than the rest of the grace period (statements are bounded by ``query_timeout``).
* a delete committed but the process died before removing the object: the object stays without
  a row. It is never served (on this storage a public file is served only while a File row
  names it, as private ones always were) and ``ristretto sweep-files --orphans`` removes it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any, Callable

from ristretto.api import filestore
from ristretto.api.asgi import Response
from ristretto.api.errors import error_response
from ristretto.api.storage import FileStorageUnavailable, StreamedResponse, executor, in_thread
from ristretto.db.dialects import quote
from ristretto.exceptions import PageDoesNotExistError
from ristretto.site.settings import setting

log = logging.getLogger("ristretto")
MARKERS = ".pending/"
# Markers younger than this may belong to requests in flight on any server: the sweep leaves them.
PENDING_GRACE = 3600.0
# An upload whose bytes were stored longer ago than this before its row is inserted gives up.
MAX_PENDING_AGE = 300.0
# Bytes read from the bucket per chunk of a download (memory per download stays about this).
CHUNK = 256 * 1024
# A client that does not accept one chunk for this long has stopped reading: cut off.
STALL_SECONDS = 60.0
_TAKEN = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def _folder(private: bool) -> str:
    return "private/files/" if private else "files/"


def _error_code(e: Exception) -> str:
    return str(getattr(e, "response", {}).get("Error", {}).get("Code", ""))


class S3Storage:
    kind = "s3"
    remote = True

    def __init__(self, config: dict[str, Any]):
        from ristretto.site.site import SiteError
        from ristretto.site.s3client import s3_client
        self.bucket = setting(config, "s3_bucket")
        if not self.bucket:
            raise SiteError('file_storage "s3" needs s3_bucket in site_config.json')
        prefix = str(setting(config, "s3_prefix") or "").strip("/")
        self.prefix = prefix + "/" if prefix else ""
        try:
            # Credentials from site_config.json when given, else boto3's own chain.
            self.client = s3_client(config, connect_timeout=5, read_timeout=60,
                                    retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=16)
        except ImportError:
            raise SiteError("file_storage \"s3\" needs boto3: pip install 'ristretto[s3]'") from None

    def key(self, private: bool, name: str) -> str:
        return self.prefix + _folder(private) + name

    def marker(self, private: bool, name: str) -> str:
        return self.prefix + MARKERS + _folder(private) + name

    # --- blocking calls (a thread's, never the event loop's) ----------------------------

    def _create(self, key: str, data: bytes, **extra: Any) -> bool:
        """Create ``key`` unless it exists (False then)."""
        from botocore.exceptions import ClientError
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*", **extra)
            return True
        except ClientError as e:
            if _error_code(e) in _TAKEN:
                return False
            raise

    def _remove(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def _store(self, private: bool, name: str, data: bytes) -> bool:
        """The object of a File named ``name``, unless it exists (False then)."""
        from ristretto.api.filenames import content_type
        return self._create(self.key(private, name), data, ContentType=content_type(name),
                            Metadata={"sha256": hashlib.sha256(data).hexdigest()})

    def restore_object(self, private: bool, name: str, data: bytes) -> bool:
        """A backed-up file put back (``ristretto restore``), unless the bucket holds it already
        (uploads are create-only: it holds the same bytes); whether it was stored."""
        return self._store(private, name, data)

    def put(self, private: bool, candidates: list[str], data: bytes) -> "S3Pending | None":
        for name in candidates:
            marker = self.marker(private, name)
            if not self._create(marker, b""):
                continue  # another request is storing this name
            try:
                stored = self._store(private, name, data)
            except BaseException:
                self._remove(marker)
                raise
            if stored:
                return S3Pending(self, private, name, upload=True)
            self._remove(marker)  # bytes without a row (a delete not finished): another name
        return None

    def pending_delete(self, private: bool, name: str) -> "S3Pending | None":
        from ristretto.api.filenames import is_plain_segment
        return S3Pending(self, private, name, upload=False) if is_plain_segment(name) else None

    def settle(self, private: bool, name: str, remove_object: bool, remove_marker: bool) -> None:
        try:
            if remove_object:
                self._remove(self.key(private, name))
            if remove_marker:
                # The marker goes last: should this fail, the sweep finishes the job.
                self._remove(self.marker(private, name))
        except Exception:  # noqa: BLE001 - the sweep settles what is left
            log.exception("file storage: settling %s%s failed", _folder(private), name)

    def response(self, private: bool, name: str, *, attachment: bool, head: bool) -> Response:
        return S3FileResponse(self, private, name, attachment=attachment, head=head)

    # --- the sweep ------------------------------------------------------------------------

    def _list(self, prefix: str):
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            yield from page.get("Contents", ())

    def sweep(self, site: Any, *, orphans_older_than: float | None = None,
              now: float | None = None) -> filestore.SweepReport:
        report = filestore.SweepReport()
        now = time.time() if now is None else now
        markers = self.prefix + MARKERS
        with site.db.connect() as conn:
            def has_row(url: str) -> bool:
                return conn.one(f"SELECT 1 FROM {quote('tabFile')} WHERE file_url = ? LIMIT 1", (url,)) is not None

            pending: set[str] = set()
            for obj in self._list(markers):
                rest = obj["Key"][len(markers):]
                private = rest.startswith("private/files/")
                name = rest[len(_folder(private)):]
                pending.add(rest)
                if now - obj["LastModified"].timestamp() < PENDING_GRACE:
                    report.busy += 1
                    continue
                url = "/" + rest
                keep = has_row(url)
                if not keep:
                    report.removed.append(url)
                self.settle(private, name, remove_object=not keep, remove_marker=True)
                report.settled += 1
            if orphans_older_than is not None:
                for private in (False, True):
                    folder = self.prefix + _folder(private)
                    for obj in self._list(folder):
                        rest = obj["Key"][len(self.prefix):]
                        if rest in pending or now - obj["LastModified"].timestamp() <= orphans_older_than \
                                or has_row("/" + rest):
                            continue
                        self._remove(obj["Key"])
                        report.removed.append("/" + rest)
                        log.warning("removed %s: no File record names it", "/" + rest)
        return report


class S3Pending:
    """An upload's object (and its marker) or a delete's object, waiting for the commit. The
    bucket is changed by a background thread: the answer does not wait for it."""

    __slots__ = ("storage", "private", "name", "upload", "born", "done")

    def __init__(self, storage: S3Storage, private: bool, name: str, *, upload: bool):
        self.storage, self.private, self.name, self.upload = storage, private, name, upload
        self.born = time.monotonic()
        self.done = False

    def stale(self) -> bool:
        return time.monotonic() - self.born > MAX_PENDING_AGE

    def committed(self) -> None:
        # An upload's object stays (its marker goes); a delete's object goes.
        self._settle(remove_object=not self.upload)

    def rolled_back(self) -> None:
        if self.upload:
            self._settle(remove_object=True)
        else:
            self.done = True  # the row is back: the object was never touched

    def _settle(self, *, remove_object: bool) -> None:
        if self.done:
            return
        self.done = True
        executor().submit(self.storage.settle, self.private, self.name, remove_object, self.upload)


class S3FileResponse(StreamedResponse):
    """A stored object streamed to the client a chunk at a time (bounded memory); the bucket is
    read in a thread. The headers are those of a local file (``ristretto.api.files``)."""

    __slots__ = ("storage", "key", "head")

    def __init__(self, storage: S3Storage, private: bool, name: str, *, attachment: bool, head: bool):
        from ristretto.api.files import file_headers
        ctype, headers = file_headers(name, private=private, attachment=attachment)
        super().__init__(b"", 200, ctype, headers)
        self.storage, self.key, self.head = storage, storage.key(private, name), head

    def _open(self) -> tuple[int, Any]:
        s = self.storage
        if self.head:
            return s.client.head_object(Bucket=s.bucket, Key=self.key)["ContentLength"], None
        obj = s.client.get_object(Bucket=s.bucket, Key=self.key)
        return obj["ContentLength"], obj["Body"]

    async def stream(self, receive: Callable, send: Callable) -> None:
        try:
            length, body = await in_thread(self._open)
        except Exception as e:  # noqa: BLE001 - nothing is sent yet: an ordinary error answer
            if _error_code(e) in _MISSING:
                error: Exception = PageDoesNotExistError("File not found", title="Not found")
            else:
                log.error("file storage: reading %s failed: %s", self.key, type(e).__name__)
                error = FileStorageUnavailable()
            answer = error_response(error, messages=[], tracebacks=False)
            self.status = answer.status  # for the access log
            await answer.send(send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": self.headers + [(b"content-length", str(length).encode())]})
        if body is None:
            await send({"type": "http.response.body", "body": b""})
            return
        import asyncio
        gone = asyncio.ensure_future(receive())
        try:
            while chunk := await in_thread(body.read, CHUNK):
                try:
                    await asyncio.wait_for(send({"type": "http.response.body", "body": chunk, "more_body": True}),
                                           STALL_SECONDS)
                except asyncio.TimeoutError:
                    log.warning("client stopped reading %s for %s s; cut off", self.key, STALL_SECONDS)
                    return
                if gone.done():
                    return  # the client went away
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception:  # noqa: BLE001 - without the final chunk the server aborts the connection
            log.exception("file storage: streaming %s failed; cut off", self.key)
        finally:
            gone.cancel()
            executor().submit(body.close)
