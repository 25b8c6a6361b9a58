"""Static files shipped inside the package (the desk's, the API docs page's), served from a table.

A folder's files are read once, when first asked for, into a table keyed by their path inside
the folder: a request names a key of that table or gets a 404, so no request path ever reaches
the file system. URLs carry a content hash (``?v=``), so browsers may keep the files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ristretto.api.asgi import Response
from ristretto.api.call import Call
from ristretto.exceptions import DoesNotExistError


class StaticFiles:
    """The files of ``folder`` whose suffix ``types`` names (suffix -> Content-Type), at ``prefix``."""

    def __init__(self, folder: Path, prefix: str, types: dict[str, bytes]):
        self.folder, self.prefix, self.types = folder, prefix, types
        self._files: dict[str, tuple[bytes, bytes, str]] | None = None

    def _load(self) -> dict[str, tuple[bytes, bytes, str]]:
        if self._files is None:
            table = {}
            for path in sorted(self.folder.rglob("*")):
                if path.is_file() and path.suffix in self.types:
                    body = path.read_bytes()
                    table[path.relative_to(self.folder).as_posix()] = (
                        body, self.types[path.suffix], hashlib.sha256(body).hexdigest()[:12])
            self._files = table
        return self._files

    def url(self, name: str) -> str:
        """The file's URL, with its content hash."""
        return f"{self.prefix}{name}?v={self._load()[name][2]}"

    def serve(self, call: Call, file: str) -> Response:
        """A static file (a key of the table read at start: no path reaches the disk)."""
        entry = self._load().get(file)
        if entry is None:
            raise DoesNotExistError("Not found", title="Not found")
        body, ctype, _ = entry
        # Pages name the files with ``?v=`` (it changes with their content); modules a page
        # imports by plain relative paths are revalidated cheaply.
        return Response(body, 200, ctype, [(b"cache-control", b"private, max-age=300")])
