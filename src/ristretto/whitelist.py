"""The registry of whitelisted methods: the only callables reachable over HTTP.

A dotted name (``frappe.client.get_list``, ``login``, an app's
``myapp.api.hello``) reaches a function only if that exact name was registered
here with :func:`whitelist`. Nothing is ever imported from a dotted path in a
request, so ``os.system`` or ``ristretto.db.anything`` is simply an unknown name.

Each method also carries Frappe's whitelisting options (allowed verbs,
``allow_guest``, ``xss_safe``) and knows how to bind the request arguments
(``form_dict``) to its parameters: :meth:`Method.bind` drops what the function
does not take, strips the arguments no client may pass, checks and coerces the
annotated parameters (``int``, ``float``, ``bool``, ``str``, ``dict``, ``list``
and their ``| None`` forms) and reports a missing argument, always as a 417.
"""

from __future__ import annotations

import html
import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ristretto.api import jsonargs
from ristretto.exceptions import FrappeTypeError

DEFAULT_VERBS = frozenset({"GET", "POST", "PUT", "DELETE"})
# Arguments a client can never pass to a method.
STRIPPED_ARGS = frozenset({"ignore_permissions", "flags", "cmd", "sid", "csrf_token"})
# Methods that must persist their writes whatever the verb, as Frappe's do by
# committing explicitly (logout ends the session even when called with GET).
# New methods say so with ``@whitelist(..., commit=True)``; this list covers
# names registered before that option existed.

# Per-function options, kept apart from ``__ristretto_whitelist__`` whose
# (name, verbs, allow_guest) triples other modules read.
_OPTIONS_ATTR = "__ristretto_whitelist_options__"

_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})
_INT_TEXT = re.compile(r"^[+-]?\d+$")
_SIMPLE_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str, "dict": dict,
                                  "list": list}


# --- parameters ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    """One bindable parameter: its name, whether it is required, and its checked type."""
    name: str
    required: bool
    kind: type | None = None      # None: not checked (the function parses the value itself)
    nullable: bool = True

    def coerce(self, value: Any) -> Any:
        if self.kind is None:
            return value
        if value is None:
            if self.nullable:
                return None
            raise _type_error(self.name, self.kind, value)
        given = value
        if self.kind in (dict, list):
            # JSON text from a form or query string; text that is not JSON is refused below.
            given = jsonargs.maybe_json(value, self.name, limit=jsonargs.MAX_DOC_TEXT)[1]
        try:
            return _COERCERS[self.kind](given)
        except (TypeError, ValueError, OverflowError):
            raise _type_error(self.name, self.kind, value) from None


def _type_error(name: str, kind: type, value: Any) -> FrappeTypeError:
    return FrappeTypeError(f"Argument '{name}' should be of type '{kind.__name__}' but got "
                           f"'{type(value).__name__}' instead.", title="Invalid argument")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.match(value.strip()):
        return int(value.strip())
    raise ValueError


def _to_float(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise ValueError


def _to_bool(value: Any) -> bool:
    # Lax reading like Frappe's (pydantic): true/false words, 1/0 as numbers or text.
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    # JSON bodies carry numbers where a form would carry text (an autoincrement name).
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError


def _json_of(kind: type) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if not isinstance(value, kind):
            raise ValueError
        return value
    return convert


_COERCERS: dict[type, Callable[[Any], Any]] = {
    int: _to_int, float: _to_float, bool: _to_bool, str: _to_str, dict: _json_of(dict), list: _json_of(list),
}


def _annotation_kind(annotation: Any) -> tuple[type | None, bool]:
    """(checked type or None, accepts None) for an annotation, given as text or as an object."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return None, True
    if isinstance(annotation, str):
        parts = [p.strip() for p in annotation.split("|")]
        m = re.fullmatch(r"(?:typing\.)?Optional\[(\w+)\]", annotation.strip())
        if m:
            parts = [m.group(1), "None"]
        nullable = "None" in parts
        rest = [p for p in parts if p != "None"]
        if len(rest) == 1 and rest[0] in _SIMPLE_TYPES:
            return _SIMPLE_TYPES[rest[0]], nullable
        return None, True
    if annotation in _COERCERS:
        return annotation, False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and rest[0] in _COERCERS:
            return rest[0], len(rest) < len(args)
    if origin in (dict, list):
        return origin, False
    return None, True


# --- methods -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[..., Any]
    verbs: frozenset[str] = DEFAULT_VERBS
    allow_guest: bool = False
    params: tuple[Param, ...] = ()
    takes_kwargs: bool = False
    # Guest callers' string arguments are HTML-escaped unless the method is xss_safe.
    xss_safe: bool = False
    # Commit even for GET (the request otherwise rolls back reads).
    commit: bool = False
    # The Authorization header carries OAuth client credentials for the method to check.
    client_credentials: bool = False
    # The name of the function's first parameter (the Call): never bindable from a request.
    call_param: str = "call"

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.required)

    def bind(self, form: dict[str, Any], *, sanitize: bool = False) -> dict[str, Any]:
        """Keyword arguments for the function from the request's ``form_dict`` (Frappe's rules)."""
        by_name = {p.name: p for p in self.params}
        kwargs: dict[str, Any] = {}
        for key, value in form.items():
            if key in STRIPPED_ARGS or key == self.call_param or not isinstance(key, str):
                continue
            param = by_name.get(key)
            if param is None and not self.takes_kwargs:
                continue  # unknown arguments are dropped, as in Frappe
            if sanitize:
                value = _sanitize(value)
            kwargs[key] = param.coerce(value) if param is not None else value
        missing = [p.name for p in self.params if p.required and p.name not in kwargs]
        if missing:
            listed = ", ".join(f"'{m}'" for m in missing)
            plural = "argument" if len(missing) == 1 else "arguments"
            # Python's own wording, as Frappe would show it, but a 417 rather than a 500.
            raise FrappeTypeError(f"{self.fn.__name__}() missing {len(missing)} required {plural}: {listed}",
                                  title="Missing argument")
        return kwargs


def _sanitize(value: Any) -> Any:
    """Guest input to a method that is not xss_safe: markup is escaped (stricter than Frappe's filter)."""
    if isinstance(value, str) and "<" in value:
        return html.escape(value, quote=False)
    return value


def whitelist(*names: str, methods: Iterable[str] | None = None, allow_guest: bool = False,
              xss_safe: bool = False, commit: bool = False, client_credentials: bool = False):
    """Mark ``fn(call, **kwargs)`` as callable under the given dotted names.

    ``client_credentials``: an ``Authorization`` header sent to this method carries an OAuth
    client's credentials (HTTP Basic ``client_id:client_secret``), which the method checks
    itself; it is never read as a user's API key pair or token."""
    def mark(fn):
        existing = getattr(fn, "__ristretto_whitelist__", [])
        fn.__ristretto_whitelist__ = existing + [
            (n, frozenset(m.upper() for m in methods) if methods else DEFAULT_VERBS, allow_guest) for n in names]
        setattr(fn, _OPTIONS_ATTR, {"xss_safe": xss_safe and allow_guest, "commit": commit,
                                    "client_credentials": client_credentials})
        return fn
    return mark


def _describe(name: str, fn: Callable, verbs: frozenset[str], allow_guest: bool) -> Method:
    sig = inspect.signature(fn)
    params: list[Param] = []
    kwargs = False
    call_param = "call"
    for i, p in enumerate(sig.parameters.values()):
        if i == 0:
            call_param = p.name  # the Call object
            continue
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            kwargs = True
            continue
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            kind, nullable = _annotation_kind(p.annotation)
            required = p.default is inspect.Parameter.empty
            params.append(Param(p.name, required, kind, nullable or p.default is None))
    options = getattr(fn, _OPTIONS_ATTR, {})
    return Method(name, fn, verbs, allow_guest, tuple(params), kwargs,
                  xss_safe=bool(options.get("xss_safe")),
                  commit=bool(options.get("commit")),
                  client_credentials=bool(options.get("client_credentials")),
                  call_param=call_param)


@dataclass
class MethodRegistry:
    methods: dict[str, Method] = field(default_factory=dict)

    def add_module(self, module: Any) -> None:
        for obj in vars(module).values():
            for name, verbs, allow_guest in getattr(obj, "__ristretto_whitelist__", ()):
                current = self.methods.get(name)
                if current is not None and current.fn is not obj:
                    # Two functions for one name is a programming error, never a silent override.
                    raise ValueError(f"method {name!r} is registered twice")
                self.methods[name] = _describe(name, obj, verbs, allow_guest)

    def get(self, name: str) -> Method | None:
        return self.methods.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self.methods

    def names(self) -> list[str]:
        return sorted(self.methods)
