"""A compiled list query: its SQL and parameters, and how its rows become answers.

Made by the list-query compiler (``ristretto.db.query``); cached per DocType by the listing
(``ristretto.model.listing``). A keyset listing (``ristretto.db.paging``) also selects its sort key
after the requested columns: :meth:`Compiled.rows` leaves them out, :meth:`Compiled.key_values`
reads them for the next cursor, and :meth:`Compiled.with_after` binds a cursor's values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import orjson

from ristretto.db.filters import Column
from ristretto.db.paging import keyset_value
from ristretto.exceptions import DataError


@dataclass
class Compiled:
    sql: str
    params: list[Any]
    keys: list[str]
    converters: list[Callable[[Any], Any] | None]
    # DocTypes joined through Link fields: the caller must check read permission on them.
    linked: tuple[str, ...] = ()
    # Keyset paging (``ListArgs.keyset``): the sort key, (column, descending) pairs ending in a
    # unique one, selected as the last ``len(key)`` columns of each row; ``key_text`` names it
    # (``"modified desc,name desc"``); with a cursor, where its values are bound
    # (``(first param, value index of each param)``, see :meth:`with_after`).
    key: tuple[tuple[Column, bool], ...] = ()
    key_text: str = ""
    after_slot: tuple[int, tuple[int, ...]] | None = None

    def with_after(self, values: list[Any]) -> "Compiled":
        """This query with a cursor's values bound (each checked against its column's type)."""
        if self.after_slot is None or len(values) != len(self.key):
            raise DataError("Invalid cursor: it does not fit this listing", title="Invalid cursor")
        checked = [keyset_value(col, v) for (col, _), v in zip(self.key, values)]
        start, idx = self.after_slot
        params = list(self.params)
        params[start:start + len(idx)] = [checked[i] for i in idx]
        # A shallow copy with other parameters (``dataclasses.replace`` would run the
        # constructor and ``__post_init__`` again, for every keyset page).
        bound = object.__new__(Compiled)
        bound.__dict__.update(self.__dict__)
        bound.params = params
        return bound

    def key_values(self, raw: tuple) -> list[Any]:
        """The sort key values of one raw row (for the next cursor)."""
        return list(raw[len(raw) - len(self.key):]) if self.key else []

    def __post_init__(self) -> None:
        # The converting columns, found once per compiled query rather than once per request.
        self._conv = [(i, c) for i, c in enumerate(self.converters) if c is not None]

    def rows(self, raw: Iterable[tuple], as_dict: bool = True) -> list:
        # A keyset listing's rows end with its sort key, which is left out: ``zip`` stops at the
        # last key, and lists are cut to the keys' width.
        keys = self.keys
        width = len(keys) if self.key else None
        conv = self._conv
        if not conv:
            if as_dict:
                return [dict(zip(keys, r)) for r in raw]
            return [list(r[:width]) for r in raw] if width else [list(r) for r in raw]
        out = []
        for r in raw:
            r = list(r[:width]) if width else list(r)
            for i, c in conv:
                if r[i] is not None:
                    r[i] = c(r[i])
            out.append(dict(zip(keys, r)) if as_dict else r)
        return out

    def debug_text(self) -> str:
        return f"{self.sql} -- params: {orjson.dumps(self.params, default=str).decode()}"
