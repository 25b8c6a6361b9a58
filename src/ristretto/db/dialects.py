"""The two SQL dialects: what differs between SQLite and PostgreSQL, and nothing else.

Every SQL text in Ristretto is written with ``?`` placeholders and double-quoted
identifiers; the PostgreSQL connection rewrites placeholders once per statement
text (cached). Identifiers reach SQL only through :func:`quote`, and only after
they were validated against DocType metadata.
"""

from __future__ import annotations

import hashlib
import re

from ristretto.meta.fieldtypes import FieldType

_SAFE_IDENT = re.compile(r'^[A-Za-z0-9_ \-]{1,63}$')


def quote(ident: str) -> str:
    """Quote a validated identifier (table or column name)."""
    if not _SAFE_IDENT.match(ident):
        # Callers validate first; reaching this is a bug, never client input in SQL.
        raise ValueError(f"unsafe SQL identifier {ident!r}")
    return f'"{ident}"'


def index_name(table: str, column: str, kind: str = "ix") -> str:
    """A short, deterministic index name (PostgreSQL truncates identifiers at 63 bytes)."""
    digest = hashlib.sha1(f"{table}\x00{column}".encode()).hexdigest()[:16]
    return f"{kind}_{digest}"


class Dialect:
    name = "base"
    like = "LIKE"
    # Whether request handlers run on the event loop thread by default (see api/app.py).
    inline = True

    def column_type(self, ft: FieldType, length: int | None = None) -> str:
        return ft.column_type(self.name, length)

    def as_text(self, expr: str) -> str:
        return f"CAST({expr} AS TEXT)"

    def text_is_native(self, ft: FieldType) -> bool:
        """Whether a column of this type can be compared to text without a cast."""
        return True


class SQLiteDialect(Dialect):
    name = "sqlite"
    like = "LIKE"

    def as_text(self, expr: str) -> str:
        return expr


class PostgresDialect(Dialect):
    name = "postgres"
    like = "ILIKE"

    def text_is_native(self, ft: FieldType) -> bool:
        return ft.postgres is not None and (ft.postgres.startswith("varchar") or ft.postgres == "text")


SQLITE = SQLiteDialect()
POSTGRES = PostgresDialect()
