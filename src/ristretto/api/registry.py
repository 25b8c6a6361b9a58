"""The registry of whitelisted methods: the only callables reachable over HTTP.

A dotted name (``frappe.client.get_list``, ``login``, an app's
``myapp.api.hello``) reaches a function only if that exact name was registered
here with :func:`whitelist`. Nothing is ever imported from a dotted path in a
request, so ``os.system`` or ``ristretto.db.anything`` is simply an unknown name.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

DEFAULT_VERBS = frozenset({"GET", "POST", "PUT", "DELETE"})
# Arguments a client can never pass to a method.
STRIPPED_ARGS = frozenset({"ignore_permissions", "flags", "cmd", "sid", "csrf_token"})


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[..., Any]
    verbs: frozenset[str] = DEFAULT_VERBS
    allow_guest: bool = False
    params: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    takes_kwargs: bool = False


def whitelist(*names: str, methods: Iterable[str] | None = None, allow_guest: bool = False):
    """Mark ``fn(call, **kwargs)`` as callable under the given dotted names."""
    def mark(fn):
        existing = getattr(fn, "__ristretto_whitelist__", [])
        fn.__ristretto_whitelist__ = existing + [
            (n, frozenset(m.upper() for m in methods) if methods else DEFAULT_VERBS, allow_guest) for n in names]
        return fn
    return mark


def _describe(name: str, fn: Callable, verbs: frozenset[str], allow_guest: bool) -> Method:
    sig = inspect.signature(fn)
    params, required, kwargs = [], [], False
    for i, p in enumerate(sig.parameters.values()):
        if i == 0:
            continue  # the Call object
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            kwargs = True
            continue
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            params.append(p.name)
            if p.default is inspect.Parameter.empty:
                required.append(p.name)
    return Method(name, fn, verbs, allow_guest, tuple(params), tuple(required), kwargs)


@dataclass
class MethodRegistry:
    methods: dict[str, Method] = field(default_factory=dict)

    def add_module(self, module: Any) -> None:
        for obj in vars(module).values():
            for name, verbs, allow_guest in getattr(obj, "__ristretto_whitelist__", ()):
                self.methods[name] = _describe(name, obj, verbs, allow_guest)

    def get(self, name: str) -> Method | None:
        return self.methods.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self.methods
