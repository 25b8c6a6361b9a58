"""Routes as data: each route declares its path, verbs, handler and what the pipeline does.

A :class:`Route` names a path pattern (``/api/resource/{doctype}/{name:path}``), the verbs it
answers, its handler and the flags the request pipeline reads:

* ``api`` — the body's shape: ``"v1"`` (``message``/``data`` envelope, Frappe's v1 error body),
  ``"v2"`` (``data`` envelope, ``errors`` list);
* ``transaction`` — whether a safe (GET) request runs in a transaction (rolled back at the end).
  Unsafe verbs always do, and are committed. Plain document reads skip it: each statement sees
  committed data, and a listing streams from its own snapshot;
* ``login`` — a password login: the pipeline checks ``usr``/``pwd`` before anything else;
* ``status`` — the status of a successful answer (a DELETE answers 202).

The :class:`Router` decides in one place. Patterns are indexed by their literal head (the path
segments before the first parameter), so finding the candidates of a path is a dictionary look-up
whatever the number of routes; only those few are matched with their regular expression.
A path some route matches, with a verb none of them allows, is a 405.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

# A parameter matches one path segment; ``{name:path}`` matches the rest, slashes included
# (document names may hold slashes).
_PARAM = re.compile(r"\{([a-z_]+)(:path)?\}")
_HEAD = 3  # literal segments looked up at most; enough to tell every route family apart
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, eq=False)
class Route:
    pattern: str
    verbs: frozenset[str]
    handler: Callable[..., Any]
    api: str = "v1"
    transaction: bool = True
    login: bool = False
    status: int = 200
    # Answers only paths no other route matches (the 404 of an API version, in its own body).
    fallback: bool = False
    regex: re.Pattern = field(init=False, repr=False)
    head: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.pattern.startswith("/"):
            raise ValueError(f"route pattern must start with '/': {self.pattern!r}")
        parts: list[str] = []
        pos = 0
        for m in _PARAM.finditer(self.pattern):
            parts.append(re.escape(self.pattern[pos:m.start()]))
            parts.append(f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)")
            pos = m.end()
        parts.append(re.escape(self.pattern[pos:]))
        object.__setattr__(self, "regex", re.compile("".join(parts)))
        literal = self.pattern.split("{", 1)[0]
        segments = literal.split("/")[1:-1] if "{" in self.pattern else self.pattern.split("/")[1:]
        object.__setattr__(self, "head", tuple(segments[:_HEAD]))


def route(pattern: str, verbs: str | Iterable[str], handler: Callable[..., Any], **flags: Any) -> Route:
    """A :class:`Route`; ``verbs`` is one verb, ``"*"`` (any verb) or several."""
    if verbs == "*":
        verbs = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "QUERY")
    elif isinstance(verbs, str):
        verbs = (verbs,)
    return Route(pattern, frozenset(verbs), handler, **flags)


def with_trailing_slash(routes: Iterable[Route]) -> list[Route]:
    """Each route, and the same route with a trailing slash (clients send both)."""
    out: list[Route] = []
    for r in routes:
        out.append(r)
        if not r.pattern.endswith("/"):
            out.append(Route(r.pattern + "/", r.verbs, r.handler, api=r.api, transaction=r.transaction,
                             login=r.login, status=r.status, fallback=r.fallback))
    return out


class MethodNotAllowed(Exception):
    """The path names a route, the verb is not one it answers."""

    def __init__(self, route: Route):
        super().__init__(route.pattern)
        self.route = route


class Router:
    def __init__(self, routes: Iterable[Route]):
        self.routes = list(routes)
        self._by_head: dict[tuple[str, ...], list[Route]] = {}
        for r in self.routes:
            self._by_head.setdefault(r.head, []).append(r)
        # Inside a bucket, the route with more literal text is tried first
        # (``/document/{dt}/{name}/copy`` before ``/document/{dt}/{name:path}``).
        for bucket in self._by_head.values():
            bucket.sort(key=_specificity, reverse=True)
        self._depths = sorted({len(h) for h in self._by_head}, reverse=True)

    def match(self, path: str, verb: str) -> tuple[Route, dict[str, str]] | None:
        """The route answering ``verb`` on ``path`` and its parameters: :class:`MethodNotAllowed`
        when some route's pattern matches but none allows ``verb``; a fallback route when no
        other matches; None when nothing does."""
        segments = path.split("/", _HEAD + 1)[1:]
        refused: Route | None = None
        fallback: tuple[Route, dict[str, str]] | None = None
        by_head = self._by_head
        for depth in self._depths:
            if depth > len(segments):
                continue
            bucket = by_head.get(tuple(segments[:depth]))
            if bucket is None:
                continue
            for r in bucket:
                m = r.regex.fullmatch(path)
                if m is None:
                    continue
                if r.fallback:
                    if fallback is None and verb in r.verbs:
                        fallback = r, m.groupdict()
                    continue
                if verb in r.verbs:
                    return r, m.groupdict()
                if refused is None:
                    refused = r
        if refused is not None:
            raise MethodNotAllowed(refused)
        return fallback


def _specificity(r: Route) -> tuple[int, int]:
    literal = _PARAM.sub("", r.pattern)
    return (len(literal), -r.pattern.count(":path"))
