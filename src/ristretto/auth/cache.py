"""Per-process cache of users, API keys and sessions, valid for one ``auth_version``.

Every change that could make an entry stale (a user, role or key saved, a session
ended) bumps ``auth_version`` in the same transaction, so entries are trusted only
while the version they were read under is still current.
"""

from __future__ import annotations

from typing import Any


class AuthCache:
    def __init__(self) -> None:
        self.version: str | None = None
        self._entries: dict[tuple[str, str], tuple[str | None, Any]] = {}

    def sync(self, version: str | None) -> None:
        if version != self.version:
            self._entries = {}
            self.version = version

    def get(self, kind: str, key: str) -> Any:
        entry = self._entries.get((kind, key))
        if entry is not None and entry[0] == self.version:
            return entry[1]
        return None

    def put(self, kind: str, key: str, value: Any, version: str | None) -> None:
        if version == self.version and len(self._entries) < 100_000:
            self._entries[(kind, key)] = (version, value)

    def drop(self, kind: str, key: str) -> None:
        self._entries.pop((kind, key), None)
