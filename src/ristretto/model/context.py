"""The request context passed explicitly through the model layer.

A :class:`Context` says who is acting (user and roles), on which site and
connection, under which permission policy, and collects the user-facing messages
of the request. There is no global request state anywhere in Ristretto: every
model function takes the context as its first argument.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
import logging
from typing import TYPE_CHECKING, Any, Callable, Protocol

from ristretto.exceptions import DoesNotExistError

if TYPE_CHECKING:
    from ristretto.db.connection import Connection
    from ristretto.meta.doctype import Meta
    from ristretto.model.registry import MetaRegistry


class PermissionPolicy(Protocol):
    """What the model layer asks before it reads or writes; implemented by ``ristretto.permissions``."""

    def check(self, ctx: "Context", doctype: str, ptype: str, doc: Any = None) -> None:
        """Raise PermissionError unless the user has ``ptype`` on the DocType (or document)."""

    def has(self, ctx: "Context", doctype: str, ptype: str, doc: Any = None) -> bool:
        """Like ``check`` but answers instead of raising."""

    def list_conditions(self, ctx: "Context", meta: "Meta") -> list[tuple[str, list]]:
        """Extra SQL conditions (built from metadata only) restricting a list to readable rows."""

    def readable_fields(self, ctx: "Context", meta: "Meta", of: "Meta | None" = None) -> set[str] | None:
        """Fieldnames of ``of`` (default ``meta``) readable under ``meta``'s rules, or None for all."""

    def writable_fields(self, ctx: "Context", meta: "Meta", of: "Meta | None" = None) -> set[str] | None:
        """Fieldnames of ``of`` (default ``meta``) writable under ``meta``'s rules, or None for all."""

    def level_access(self, ctx: "Context", meta: "Meta", ptype: str) -> frozenset[int]:
        """The permlevels at which the user holds ``ptype`` on ``meta`` (Frappe's get_permlevel_access)."""


class AllowAll:
    """Policy for trusted callers (CLI, installation): everything is permitted."""

    def check(self, ctx, doctype, ptype, doc=None):
        return None

    def has(self, ctx, doctype, ptype, doc=None):
        return True

    def list_conditions(self, ctx, meta):
        return []

    def readable_fields(self, ctx, meta, of=None):
        return None

    def writable_fields(self, ctx, meta, of=None):
        return None

    def level_access(self, ctx, meta, ptype):
        return frozenset(range(10))


@dataclass
class Context:
    registry: "MetaRegistry"
    db: "Connection"
    user: str = "Administrator"
    roles: frozenset[str] = frozenset({"Administrator", "System Manager", "All"})
    perms: PermissionPolicy = field(default_factory=AllowAll)
    user_type: str = "System User"
    messages: list[dict] = field(default_factory=list)
    debug: list[str] = field(default_factory=list)
    # Free-form flags for the request (e.g. "in_import").
    flags: dict[str, Any] = field(default_factory=dict)
    site_config: dict[str, Any] = field(default_factory=dict)
    # Work that must follow the transaction's outcome (files on disk): run by whoever
    # commits or rolls back the request's transaction.
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    on_rollback: list[Callable[[], None]] = field(default_factory=list)
    # Gives the site's key for Password fields, creating it on first need (set by the Site).
    encryption_key: Callable[[], str] | None = None

    def run_callbacks(self, committed: bool) -> None:
        callbacks = self.on_commit if committed else self.on_rollback
        self.on_commit, self.on_rollback = [], []
        for fn in callbacks:
            try:
                fn()
            except Exception:  # noqa: BLE001 - the transaction's outcome stands; log and go on
                logging.getLogger("ristretto").exception("post-transaction callback failed")

    @property
    def dialect(self):
        return self.db.dialect

    def get_meta(self, doctype: str) -> "Meta":
        meta = self.registry.get(doctype)
        if meta is None:
            raise DoesNotExistError(f"DocType {doctype} not found", doctype="DocType")
        return meta

    def find_meta(self, doctype: str) -> "Meta | None":
        return self.registry.get(doctype)

    def msgprint(self, message: str, *, title: str = "Message", indicator: str | None = None) -> None:
        msg = {"message": message, "title": title}
        if indicator:
            msg["indicator"] = indicator
        self.messages.append(msg)

    @staticmethod
    def now() -> str:
        # "YYYY-MM-DD HH:MM:SS.ffffff", as strftime("%Y-%m-%d %H:%M:%S.%f") writes it, in a
        # third of the time (every write stamps a document with it).
        return _dt.datetime.now().isoformat(" ", "microseconds")

    @property
    def is_admin(self) -> bool:
        return self.user == "Administrator"
