"""Webhook conditions and body templates: Jinja in a sandbox, with bounds on size and work.

A Webhook's ``condition`` (an expression on ``doc``, like Frappe's ``doc.status == "Open"``),
its ``webhook_json`` body and a dynamic ``request_url`` are Jinja, evaluated by jinja2's
``ImmutableSandboxedEnvironment``: no access to private attributes or to methods that mutate,
nothing imported. The sandbox stops escapes, not runaway work, so on top of it:

* the source of each is capped in length, and the template may use expressions, ``if``,
  ``for`` and ``set`` only (no macros, call blocks, recursive loops, includes or imports, so
  no recursion);
* ``range`` is a counted generator, and every attribute lookup, item lookup and call counts
  too: past a budget of steps or of time the evaluation stops with an error;
* ``*``, ``%`` and ``**`` are checked before they build a huge string or number, and the
  padding methods of strings (``ljust``, ``center``...) and filters are not available;
* the rendered text is capped.

``doc`` is the document as its dictionary form (child tables as lists), whose fields also read
as attributes (``doc.status``; a missing field is None), as on Frappe's documents.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from typing import Any, Iterator

from jinja2 import TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

MAX_CONDITION = 2_000          # characters of a condition
MAX_TEMPLATE = 64 * 1024       # characters of a body template
MAX_URL = 2_048                # characters of a request URL (template or result)
MAX_OUTPUT = 1024 * 1024       # characters a rendering may produce
MAX_STEPS = 200_000            # lookups, calls and range items of one evaluation
MAX_SECONDS = 1.0              # wall-clock time of one evaluation
_MAX_VALUE = 100_000           # size of a string or digits of a number built by an operator

_FORBIDDEN_NODES = (nodes.Macro, nodes.CallBlock, nodes.Include, nodes.Import, nodes.FromImport,
                    nodes.Extends, nodes.Block, nodes.FilterBlock, nodes.Scope, nodes.ScopedEvalContextModifier)
_FORBIDDEN_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs", "format", "format_map"})
_FORBIDDEN_FILTERS = ("center", "indent", "format", "wordwrap", "truncate", "urlize", "xmlattr", "pprint")


class TemplateProblem(Exception):
    """A condition or template that cannot be compiled or evaluated (message says why)."""


class DocView(dict):
    """A document's dictionary whose fields read as attributes too (a missing one is None);
    in templates a field wins over a dict method of the same name (``doc.items``)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return None


def doc_view(value: Any) -> Any:
    """``value`` with every dictionary in it made a :class:`DocView`."""
    if isinstance(value, dict):
        return DocView({k: doc_view(v) for k, v in value.items()})
    if isinstance(value, list):
        return [doc_view(v) for v in value]
    return value


class _Budget:
    __slots__ = ("steps", "deadline")

    def __init__(self) -> None:
        self.steps = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def spend(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS or (self.steps & 1023 == 0 and time.monotonic() > self.deadline):
            raise TemplateProblem("the template does too much work (stopped)")


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "%", "**"})

    def __init__(self) -> None:
        super().__init__(autoescape=False, keep_trailing_newline=True)
        for name in _FORBIDDEN_FILTERS:
            self.filters.pop(name, None)
        self.globals = {"range": self._range, "dict": dict, "len": len, "int": int, "float": float, "str": str,
                        "bool": bool, "abs": abs, "min": min, "max": max, "round": round,
                        "nowdate": _nowdate, "today": _nowdate, "now": _now, "flt": _flt, "cint": _cint,
                        "cstr": _cstr}
        self.globals["utils"] = DocView({k: v for k, v in self.globals.items() if k in _UTILS})
        # Python's spelling of the tests a condition copied from Frappe may use (``is None``).
        for python, jinja in (("None", "none"), ("True", "true"), ("False", "false")):
            self.tests[python] = self.tests[jinja]
        # Requests may run in a thread pool: each thread's evaluation has its own budget.
        self.local = threading.local()

    # Every lookup and call spends a step of the evaluation's budget.
    def _spend(self) -> None:
        budget = getattr(self.local, "budget", None)
        if budget is not None:
            budget.spend()

    def getattr(self, obj: Any, attribute: str) -> Any:
        self._spend()
        if isinstance(obj, DocView) and dict.__contains__(obj, attribute):
            return dict.__getitem__(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self._spend()
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - jinja's form
        __self._spend()
        return super().call(__context, __obj, *args, **kwargs)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in _FORBIDDEN_METHODS and isinstance(obj, (str, bytes)):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self._spend()
        if operator == "*" and isinstance(right, (str, list, tuple)):
            left, right = right, left
        if operator == "*" and isinstance(left, (str, list, tuple)) and isinstance(right, int):
            if len(left) * max(right, 0) > _MAX_VALUE:
                raise TemplateProblem("a repeated value would be too large")
        if operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right * max(abs(left).bit_length(), 1) > _MAX_VALUE:
                raise TemplateProblem("a power would be too large")
        if operator == "%" and isinstance(left, str) and len(left) > _MAX_VALUE:
            raise TemplateProblem("a formatted value would be too large")
        result = super().call_binop(context, operator, left, right)
        if operator == "%" and isinstance(result, str) and len(result) > _MAX_VALUE:
            raise TemplateProblem("a formatted value would be too large")
        return result

    def _range(self, *args: int) -> Iterator[int]:
        for i in range(*args):
            self._spend()
            yield i


_UTILS = ("nowdate", "today", "now", "flt", "cint", "cstr")


def _nowdate() -> str:
    return _dt.date.today().isoformat()


def _now() -> str:
    return _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")


def _flt(value: Any, precision: int | None = None) -> float:
    try:
        number = float(value or 0)
    except (TypeError, ValueError):
        number = 0.0
    return round(number, precision) if precision is not None else number


def _cint(value: Any) -> int:
    try:
        return int(float(value or 0))
    except (TypeError, ValueError, OverflowError):
        return 0


def _cstr(value: Any) -> str:
    return "" if value is None else str(value)


_ENV = _Sandbox()


def _check_nodes(tree: nodes.Node) -> None:
    for node in tree.find_all((nodes.Node,)):
        if isinstance(node, _FORBIDDEN_NODES) or (isinstance(node, nodes.For) and node.recursive):
            raise TemplateProblem(f"{type(node).__name__.lower()} is not allowed here")


class Condition:
    """A compiled ``condition``: ``holds(doc)`` says whether a webhook fires."""

    def __init__(self, source: str):
        if len(source) > MAX_CONDITION:
            raise TemplateProblem(f"the condition is longer than {MAX_CONDITION} characters")
        # One expression, nothing else (jinja refuses anything left after it).
        try:
            self._expr = _ENV.compile_expression(source, undefined_to_none=True)
        except TemplateError as e:
            raise TemplateProblem(str(e)) from None

    def holds(self, doc: dict) -> bool:
        return bool(_evaluate(lambda: self._expr(doc=doc_view(doc))))


class Template:
    """A compiled text template (a JSON body, a dynamic URL): ``render(doc)`` with a cap."""

    def __init__(self, source: str, limit: int = MAX_TEMPLATE, output_limit: int = MAX_OUTPUT):
        if len(source) > limit:
            raise TemplateProblem(f"the template is longer than {limit} characters")
        try:
            tree = _ENV.parse(source)
        except TemplateError as e:
            raise TemplateProblem(str(e)) from None
        _check_nodes(tree)
        try:
            self._template = _ENV.from_string(tree)
        except TemplateError as e:
            raise TemplateProblem(str(e)) from None
        self.output_limit = output_limit

    def render(self, doc: dict) -> str:
        def run() -> str:
            parts, size = [], 0
            for chunk in self._template.generate(doc=doc_view(doc)):
                size += len(chunk)
                if size > self.output_limit:
                    raise TemplateProblem(f"the rendered text is longer than {self.output_limit} characters")
                parts.append(chunk)
            return "".join(parts)
        return _evaluate(run)


def _evaluate(fn: Any) -> Any:
    """Run one evaluation under a fresh budget; every failure becomes a TemplateProblem."""
    local = _ENV.local
    previous, local.budget = getattr(local, "budget", None), _Budget()
    try:
        return fn()
    except TemplateProblem:
        raise
    except SecurityError as e:
        raise TemplateProblem(f"not allowed: {e}") from None
    except RecursionError:
        raise TemplateProblem("the template nests too deeply") from None
    except Exception as e:  # noqa: BLE001 - a template's own error (a type error, a missing key...)
        raise TemplateProblem(f"{type(e).__name__}: {e}") from None
    finally:
        local.budget = previous


__all__ = ["Condition", "Template", "TemplateProblem", "DocView", "doc_view", "MAX_CONDITION", "MAX_TEMPLATE",
           "MAX_URL", "MAX_OUTPUT"]
