"""Where the bytes of File records live: one interface, chosen by ``file_storage`` in site_config.json.

* ``"local"`` (the default): the site's ``public/files`` and ``private/files`` folders, with the
  crash-safe protocol of ``ristretto.api.filestore`` (unchanged).
* ``"s3"``: an S3-compatible bucket (``ristretto.api.s3store``; boto3, the ``s3`` extra).

Whatever the storage, the File rows decide: bytes stored for an upload are *pending* until the
row commits (:meth:`Pending.committed` keeps them, :meth:`Pending.rolled_back` removes them), and
bytes of a deleted row go only after the delete has committed. Permission checks stay in
``ristretto.api.files``; a storage only keeps bytes.

A storage whose calls go over the network (``remote``) never runs them on the event loop: an
upload's bytes are stored by a :class:`StorageWork` that the pipeline (``App._answer``) runs in a
thread between two passes of the request, as it does a login's password check; downloads are
streamed by a :class:`StreamedResponse`, whose reads run in a thread too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import weakref
from pathlib import Path
from typing import Any, Callable, Protocol

from ristretto.api import filestore
from ristretto.api.asgi import Response
from ristretto.exceptions import FrappeError, ValidationError
from ristretto.site.settings import setting

log = logging.getLogger("ristretto")
# Blocking storage calls (uploads, reads of a streamed download, removals after a commit).
_POOL_SIZE = 8
_pool: concurrent.futures.ThreadPoolExecutor | None = None


def executor() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(max_workers=_POOL_SIZE, thread_name_prefix="storage")
    return _pool


class FileStorageUnavailable(FrappeError):
    """The file storage did not answer or refused: nothing was stored or sent; retrying is safe."""
    http_status = 503

    def __init__(self, message: str = "The file storage is not available; nothing was stored. Retry later.",
                 *, title: str | None = "File storage unavailable"):
        super().__init__(message, title=title)


class Pending(Protocol):
    """Stored bytes (``name``) whose fate waits for the transaction's outcome."""

    name: str

    def committed(self) -> None: ...

    def rolled_back(self) -> None: ...


class Storage(Protocol):
    kind: str
    # Whether calls go over the network (then never on the event loop).
    remote: bool

    def put(self, private: bool, candidates: list[str], data: bytes) -> Pending | None:
        """Store ``data`` under the first free name of ``candidates``, pending until the commit."""

    def pending_delete(self, private: bool, name: str) -> Pending | None:
        """Bytes to remove once the delete of their last File row commits (None: nothing stored)."""

    # A local storage also has ``digest(private, name)``: (size, SHA-256 hex) of stored bytes; a
    # network storage's are taken from the File rows naming them (``ristretto.api.filecontroller``).

    def response(self, private: bool, name: str, *, attachment: bool, head: bool) -> Response | None:
        """The bytes as an HTTP answer (None: not stored); permissions are checked by the caller."""

    def sweep(self, site: Any, *, orphans_older_than: float | None = None,
              now: float | None = None) -> filestore.SweepReport:
        """Settle what crashed requests left (every worker start, ``ristretto sweep-files``)."""


class LocalStorage:
    """The site folder's ``public/files`` and ``private/files`` (``ristretto.api.filestore``)."""

    kind = "local"
    remote = False

    def __init__(self, site: Any):
        self.site = site

    def _dir(self, private: bool) -> Path:
        path = self.site.files_path(private)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def put(self, private: bool, candidates: list[str], data: bytes) -> Pending | None:
        return filestore.write(self._dir(private), candidates, data)

    def _path(self, private: bool, name: str) -> Path | None:
        from ristretto.api.filenames import resolve
        return resolve(self.site.files_path(private), name)

    def pending_delete(self, private: bool, name: str) -> Pending | None:
        path = self._path(private, name)
        if path is None:
            return None
        pending = filestore.pending_delete(path)
        return pending if pending is not None else _Unlink(path)

    def digest(self, private: bool, name: str) -> tuple[int, str] | None:
        from ristretto.api.filenames import digest
        path = self._path(private, name)
        return digest(path) if path is not None else None

    def response(self, private: bool, name: str, *, attachment: bool, head: bool) -> Response | None:
        from ristretto.api.files import file_response
        path = self._path(private, name)
        if path is None:
            return None
        return file_response(name, path.read_bytes(), private=private, attachment=attachment)

    def sweep(self, site: Any, *, orphans_older_than: float | None = None,
              now: float | None = None) -> filestore.SweepReport:
        return filestore.sweep(site, orphans_older_than=orphans_older_than, now=now)


class _Unlink:
    """A delete whose bytes someone else is settling: they go after the commit, nothing to undo."""

    def __init__(self, path: Path):
        self.path, self.name = path, path.name

    def committed(self) -> None:
        self.path.unlink(missing_ok=True)

    def rolled_back(self) -> None:
        pass


_storages: "weakref.WeakKeyDictionary[Any, Storage]" = weakref.WeakKeyDictionary()


def of(site: Any) -> Storage:
    """The site's storage, made once per open site from its configuration."""
    found = _storages.get(site)
    if found is None:
        found = _storages[site] = make(site)
    return found


def make(site: Any) -> Storage:
    kind = str(setting(site.config, "file_storage") or "local").lower()
    if kind == "local":
        return LocalStorage(site)
    if kind == "s3":
        from ristretto.api.s3store import S3Storage
        return S3Storage(site.config)
    from ristretto.site.site import SiteError
    raise SiteError(f'file_storage must be "local" or "s3", not {kind!r}')


# --- off the event loop ---------------------------------------------------------------------------

class StorageWork:
    """An upload's bytes to store off the event loop, between the two passes of its request.

    The first pass checks everything and answers with this work (names already taken by File
    rows left out); the pipeline runs :meth:`run` in a thread, then handles the request again
    with the work in ``call.storage_work``, where the upload takes its :class:`Pending` and
    inserts the row. A work the second pass never took (the request failed before) is given
    up by :meth:`release`: its bytes go.
    """

    __slots__ = ("storage", "private", "candidates", "data", "pending", "error", "taken")

    def __init__(self, storage: Storage, private: bool, candidates: list[str], data: bytes):
        self.storage, self.private, self.candidates, self.data = storage, private, candidates, data
        self.pending: Pending | None = None
        self.error: BaseException | None = None
        self.taken = False

    def run(self) -> None:
        try:
            self.pending = self.storage.put(self.private, self.candidates, self.data)
        except Exception as e:  # noqa: BLE001 - the second pass reports it as the request's error
            self.error = e

    def take(self, name: str) -> Pending:
        """The stored bytes, for the second pass of the upload of ``name``."""
        self.taken = True
        if self.error is not None:
            log.error("file storage: storing %s failed: %r", name, self.error)
            raise FileStorageUnavailable()
        if self.pending is None:
            raise ValidationError(f"Could not find a free name for {name}", title="Upload failed")
        if getattr(self.pending, "stale", lambda: False)():
            # Stored too long ago: the sweep may take pending bytes for a dead request's.
            self.pending.rolled_back()
            raise FileStorageUnavailable("The upload waited too long for the database; nothing was stored. "
                                         "Retry the request.")
        return self.pending

    def release(self) -> None:
        """After the second pass: bytes it never took go."""
        if not self.taken and self.pending is not None:
            self.pending.rolled_back()


class StreamedResponse(Response):
    """An answer whose body is read while it is sent (``App._http`` calls :meth:`stream`)."""

    __slots__ = ()

    async def stream(self, receive: Callable, send: Callable) -> None:
        raise NotImplementedError


async def in_thread(fn: Callable, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(executor(), fn, *args)
