"""Scenario tables for HTTP tests: one row per request, run in process against a site.

A route family's tests become a list of ``Scenario`` rows (after PocketBase's ``ApiScenario``):
the request (method, URL, query, JSON/form/raw body, headers, the user whose API key signs it),
what must come back (status, body fragments that must or must not appear) and which document
hooks ran, in order. ``before`` sets up the state a row needs and ``after`` checks what the
request left behind (one function or a sequence of them: ``before(env)`` may return a dict of
values to keep, ``after(env, response)`` asserts). ``scenarios(*rows)`` parametrises a test over
the rows (test ids are the names); the test calls ``scenario.run(env)`` with an ``Env``, made
once per module and database by ``open_env``. Rows share that site, so each row makes the
documents it needs in ``before``.

Hooks are observed through an ordinary app: ``open_env(..., watch=[DocTypes])`` lists a small
generated app whose controllers for those DocTypes are ``Recorder``s, which note each hook they
receive (``Env.events``). DocTypes with a built-in controller (DocType, User, Role, File, ...)
cannot be watched: an app may not replace their controller.

Values a ``before`` step returns (a dict) are kept in ``Env.vars`` and can be used in the row:
``$name`` inside the URL (``$$`` for a literal dollar), and a string that is exactly ``$name``
anywhere in ``params``, ``json``, ``data`` or an expected JSON fragment. Any of those fields may
also be a function of the ``Env``.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import httpx
import pytest

from tests.inprocess import InProcess, open_site, token_for

# Every hook name a controller may be asked for, also ones the model may call in future: a
# name it never calls simply never shows up.
HOOKS = ("transform_input", "autoname", "before_insert", "before_validate", "validate", "before_save",
         "before_submit", "before_cancel", "before_update_after_submit", "after_insert", "on_update",
         "on_submit", "on_cancel", "on_update_after_submit", "on_change", "on_trash", "after_delete",
         "before_rename", "after_rename")


class Recorder:
    """A controller that notes the name of every hook it receives and changes nothing."""

    events: list[str] = []  # shared by every Recorder: requests of one process run one at a time

    def transform_input(self, ctx: Any, data: dict, *args: Any) -> dict:
        Recorder.events.append("transform_input")
        return data

    def autoname(self, ctx: Any, doc: Any, *args: Any) -> bool:
        Recorder.events.append("autoname")
        return False  # the DocType's own naming rule names the document


def _recording(hook: str) -> Callable:
    def hook_fn(self: Recorder, *args: Any, **kw: Any) -> None:
        Recorder.events.append(hook)
    hook_fn.__name__ = hook
    return hook_fn


for _hook in HOOKS:
    if not hasattr(Recorder, _hook):
        setattr(Recorder, _hook, _recording(_hook))
del _hook


def recorder_app(folder: Path, doctypes: Sequence[str]) -> dict[str, Any]:
    """Write an app whose controllers of ``doctypes`` are Recorders; returns its site_config keys."""
    # One module name per set of DocTypes: an app module is imported once per process.
    module = "hook_recorder_" + hashlib.sha1("\0".join(sorted(doctypes)).encode()).hexdigest()[:10]
    (folder / module).mkdir(parents=True, exist_ok=True)
    (folder / module / "__init__.py").write_text(
        "from tests.scenario import Recorder\n\n"
        f"controllers = {{doctype: Recorder for doctype in {sorted(doctypes)!r}}}\n")
    return {"apps": [module], "app_paths": [str(folder)]}


class Env:
    """A site served in process, a client per user, the values ``before`` steps kept, and the
    hooks that ran."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.site = app.site
        self.vars: dict[str, Any] = {}
        self._clients: dict[str | None, InProcess] = {}

    def client(self, user: str | None) -> InProcess:
        """A client signed with an API key of ``user`` (None: Guest); each request stands alone."""
        if user not in self._clients:
            headers = token_for(self.site, user) if user else {}
            self._clients[user] = InProcess(self.app, headers=headers, keep_cookies=False)
        return self._clients[user]

    def admin(self, method: str, url: str, **kw: Any) -> Any:
        """A request as Administrator that must succeed; returns its ``data``/``message``."""
        r = self.client("Administrator").request(method, url, **kw)
        assert r.status_code in (200, 202), f"{method} {url} -> {r.status_code}: {r.text[:2000]}"
        body = r.json()
        return body.get("data", body.get("message"))

    @property
    def events(self) -> list[str]:
        return list(Recorder.events)

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self.site.close()


def open_env(tmp: Path, backend: str, request: Any, watch: Sequence[str] = (), **config: Any) -> Env:
    """A new site on ``backend`` (``config`` in its site_config.json) whose ``watch`` DocTypes
    record their hooks, served in process."""
    from ristretto.api.app import App
    if watch:
        config.update(recorder_app(tmp / "scenario-apps", watch))
    return Env(App(open_site(tmp, backend, request, **config)))


Steps = Callable[[Env], Any] | Sequence[Callable[[Env], Any]] | None


@dataclass
class Scenario:
    name: str
    method: str
    url: str | Callable[[Env], str]
    params: Any = None
    json: Any = None
    data: Any = None
    body: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    user: str | None = None  # whose API key signs the request; None: Guest
    expected_status: int = 200
    # A string must occur in the body (compact JSON when the body is JSON); a dict or list is a
    # JSON fragment: every key it names, at any depth, has the value given (lists item by item).
    expected_content: Sequence[str | dict | list] = ()
    not_expected_content: Sequence[str] = ()
    # The hook names the watched DocTypes' controllers received, in order (None: not checked).
    expected_events: Sequence[str] | None = None
    before: Steps = None
    after: Steps = None

    def run(self, env: Env) -> httpx.Response:
        env.vars = {}
        for step in _steps(self.before):
            env.vars.update(step(env) or {})
        Recorder.events.clear()
        kw: dict[str, Any] = {"headers": self.headers}
        for key in ("params", "json", "data"):
            value = _resolve(getattr(self, key), env)
            if value is not None:
                kw[key] = value
        if self.body is not None:
            kw["content"] = self.body
        url = self.url(env) if callable(self.url) else string.Template(self.url).substitute(env.vars)
        r = env.client(self.user).request(self.method, url, **kw)
        events = env.events
        where = f"[{self.name}] {self.method} {url} -> {r.status_code} {r.text[:2000]}\nhooks: {events}"
        assert r.status_code == self.expected_status, where
        text = _normalised(r)
        for item in self.expected_content:
            if isinstance(item, str):
                assert item in text, f"{where}\nmissing: {item}"
            else:
                _match(_resolve(item, env), r.json(), where, "body")
        for item in self.not_expected_content:
            assert item not in text, f"{where}\nunexpected: {item}"
        if self.expected_events is not None:
            assert events == list(self.expected_events), where
        for step in _steps(self.after):
            step(env, r)
        return r


def scenarios(*rows: Scenario) -> pytest.MarkDecorator:
    """Parametrise a test's ``scenario`` argument over ``rows``, one test id per name."""
    names = [s.name for s in rows]
    dupes = sorted({n for n in names if names.count(n) > 1})
    assert not dupes, f"scenario names must be unique: {dupes}"
    return pytest.mark.parametrize("scenario", rows, ids=names)


def _steps(steps: Steps) -> Sequence[Callable]:
    if steps is None:
        return ()
    return (steps,) if callable(steps) else steps


_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _resolve(value: Any, env: Env) -> Any:
    """``value`` with every string that is exactly ``$name`` replaced by that kept value."""
    if callable(value):
        return value(env)
    if isinstance(value, str):
        m = _VAR.fullmatch(value)
        return env.vars[m.group(1)] if m and m.group(1) in env.vars else value
    if isinstance(value, dict):
        return {k: _resolve(v, env) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve(v, env) for v in value]
    return value


def _normalised(r: httpx.Response) -> str:
    try:
        return json.dumps(r.json(), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return r.text


def _match(expected: Any, actual: Any, where: str, path: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}\n{path}: expected an object, got {actual!r}"
        for k, v in expected.items():
            assert k in actual, f"{where}\n{path}: no key {k!r}"
            _match(v, actual[k], where, f"{path}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), \
            f"{where}\n{path}: expected {len(expected)} items, got {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            _match(e, a, where, f"{path}[{i}]")
    else:
        assert actual == expected, f"{where}\n{path}: expected {expected!r}, got {actual!r}"
