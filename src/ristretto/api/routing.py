"""Routes as data: each route declares its path, verbs, handler and what the pipeline does.

A :class:`Route` names a path pattern (``/api/resource/{doctype}/{name:path}``), the verbs it
answers, its handler and the flags the request pipeline reads:

* ``api`` — the body's shape: ``"v1"`` (``message``/``data`` envelope, Frappe's v1 error body),
  ``"v2"`` (``data`` envelope, ``errors`` list), ``"page"`` (HTML pages, errors as pages too);
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
from dataclasses import dataclass, field, replace
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
    # The path parameter naming the whitelisted method the route runs (its options, such as
    # client_credentials, then apply before the handler), if any.
    method_param: str | None = None
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
            out.append(replace(r, pattern=r.pattern + "/"))
    return out


class MethodNotAllowed(Exception):
    """The path names a route, the verb is not one it answers."""

    def __init__(self, route: Route):
        super().__init__(route.pattern)
        self.route = route


class _Pattern:
    """One path pattern's routes, by verb, and the names of its parameters in path order."""
    __slots__ = ("route", "verbs", "names", "fallback")

    def __init__(self, route: Route):
        self.route, self.verbs, self.fallback = route, {}, route.fallback
        self.names = tuple(m.group(1) for m in _PARAM.finditer(route.pattern))


class _Node:
    """A trie node: literal segments, one-segment parameters, the patterns ending here, and
    ``{name:path}`` parameters starting here (with the segments that must follow them)."""
    __slots__ = ("literal", "param", "end", "rest")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.end: list[_Pattern] = []
        self.rest: list[tuple[tuple[str | None, ...], _Pattern]] = []


class Router:
    """Matches a path segment by segment in a trie: literal segments before parameters,
    parameters before ``{name:path}`` (Starlette's and werkzeug's order of specificity),
    a few dictionary look-ups for the common paths."""

    def __init__(self, routes: Iterable[Route]):
        self.routes = list(routes)
        self._root = _Node()
        patterns: dict[tuple[str, bool], _Pattern] = {}
        for r in self.routes:
            key = (r.pattern, r.fallback)
            pattern = patterns.get(key)
            if pattern is None:
                pattern = patterns[key] = _Pattern(r)
                self._add(pattern)
            for verb in r.verbs:
                pattern.verbs.setdefault(verb, r)

    def _add(self, pattern: _Pattern) -> None:
        node = self._root
        segments = pattern.route.pattern.split("/")[1:]
        for i, seg in enumerate(segments):
            m = _PARAM.fullmatch(seg)
            if m is None:
                if "{" in seg:
                    raise ValueError(f"a parameter must be a whole path segment: {pattern.route.pattern!r}")
                node = node.literal.setdefault(seg, _Node())
            elif m.group(2):  # {name:path}: the rest, less what must follow it
                suffix = tuple(None if _PARAM.fullmatch(t) else t for t in segments[i + 1:])
                if any(t is not None and "{" in t for t in suffix):
                    raise ValueError(f"a parameter must be a whole path segment: {pattern.route.pattern!r}")
                node.rest.append((suffix, pattern))
                node.rest.sort(key=lambda e: (len(e[0]), not e[1].fallback), reverse=True)
                return
            else:
                if node.param is None:
                    node.param = _Node()
                node = node.param
        node.end.append(pattern)

    def match(self, path: str, verb: str) -> tuple[Route, dict[str, str]] | None:
        """The route answering ``verb`` on ``path`` and its parameters: :class:`MethodNotAllowed`
        when some route's pattern matches but none allows ``verb``; a fallback route when no
        other matches; None when nothing does."""
        segments = path.split("/")
        if segments[0]:
            return None
        # The common case without backtracking: literal, else parameter, else the rest.
        node = self._root
        values: list[str] = []
        n = len(segments)
        i = 1
        while i < n:
            seg = segments[i]
            child = node.literal.get(seg)
            if child is None:
                child = node.param
                if child is None or not seg:
                    break
                values.append(seg)
            node = child
            i += 1
        if i == n:
            for pattern in node.end:
                r = pattern.verbs.get(verb)
                if r is not None and not pattern.fallback:
                    return r, dict(zip(pattern.names, values))
        elif node.rest:
            last = segments[-1]
            for suffix, pattern in node.rest:
                if not suffix:
                    rest = ["/".join(segments[i:])]
                elif suffix[-1] is not None and suffix[-1] != last:
                    continue  # the cheap refusal of most suffixes
                else:
                    rest = _rest(suffix, segments, i)
                if rest is not None:
                    r = pattern.verbs.get(verb)
                    if r is not None and not pattern.fallback:
                        return r, dict(zip(pattern.names, values + rest))
                    break
        # Everything else (trailing segments after a path parameter, a verb the first match
        # does not answer, fallbacks): the whole search, in order of specificity.
        state: list = [None, None]  # the first pattern refusing the verb; the first fallback
        found = _walk(self._root, segments, 1, [], verb, state)
        if found is not None:
            return found
        if state[0] is not None:
            raise MethodNotAllowed(state[0].route)
        if state[1] is not None:
            pattern, values = state[1]
            return pattern.verbs[verb], dict(zip(pattern.names, values))
        return None


def _walk(node: _Node, segments: list[str], i: int, values: list[str], verb: str,
          state: list) -> tuple[Route, dict[str, str]] | None:
    if i == len(segments):
        for pattern in node.end:
            found = _answer(pattern, values, verb, state)
            if found is not None:
                return found
        return None
    seg = segments[i]
    child = node.literal.get(seg)
    if child is not None:
        found = _walk(child, segments, i + 1, values, verb, state)
        if found is not None:
            return found
    if node.param is not None and seg:
        found = _walk(node.param, segments, i + 1, [*values, seg], verb, state)
        if found is not None:
            return found
    for suffix, pattern in node.rest:
        rest = _rest(suffix, segments, i)
        if rest is not None:
            found = _answer(pattern, values + rest, verb, state)
            if found is not None:
                return found
    return None


def _rest(suffix: tuple[str | None, ...], segments: list[str], i: int) -> list[str] | None:
    """The values of a ``{name:path}`` parameter starting at segment ``i`` and of the parameters
    in its ``suffix`` (None: a parameter, else a literal segment), if the path fits."""
    tail = len(segments) - len(suffix)
    if tail <= i:
        return None
    values = ["/".join(segments[i:tail])]
    for want, got in zip(suffix, segments[tail:]):
        if want is None:
            if not got:
                return None
            values.append(got)
        elif want != got:
            return None
    return values


def _answer(pattern: _Pattern, values: list[str], verb: str, state: list) -> tuple[Route, dict[str, str]] | None:
    r = pattern.verbs.get(verb)
    if pattern.fallback:
        if r is not None and state[1] is None:
            state[1] = (pattern, values)
        return None
    if r is None:
        if state[0] is None:
            state[0] = pattern
        return None
    return r, dict(zip(pattern.names, values))


def _specificity(r: Route) -> tuple[int, int]:
    literal = _PARAM.sub("", r.pattern)
    return (len(literal), -r.pattern.count(":path"))
