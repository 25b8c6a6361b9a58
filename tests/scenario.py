"""Scenario tables for HTTP tests: one row per request, run in process against a site.

A route family's tests become a list of ``Scenario`` rows (after PocketBase's ``ApiScenario``):
the request (method, URL, query, JSON/form/raw body, headers, the user whose API key signs it),
what must come back (status, a fragment of the body) and which document hooks ran, in order.
``before`` sets up the state a row needs and ``after`` checks what the request left behind (one
function or a sequence of them: ``before(env)`` may return a dict of values to keep,
``after(env, response)`` asserts). ``scenarios(*rows)`` parametrises a test over the rows (test
ids are the names); the test calls ``scenario.run(env)`` with an ``Env``, made once per module
and database by ``open_env``. Rows share that site, so each row makes the documents it needs in
``before`` (or the module's fixture makes them once).

The expected body is one fragment, matched by ``contains``: a dict matches when each key it
names matches (``ABSENT``: the key must be missing), a list when it has as many items and each
matches, a callable when it does not return False (it may assert), ``Text`` when the value as
compact JSON holds (or lacks) some strings, anything else by equality.

Hooks are observed with ``Recorder``, a controller that notes each hook it receives
(``Env.events``): ``open_env(..., watch=[DocTypes])`` lists a small generated app whose
controllers for those DocTypes are Recorders, and an app of the test's own may subclass it
(tests/api/v2world.py does). DocTypes with a built-in controller (DocType, User, Role, File, ...)
cannot be watched: an app may not replace their controller.

Values a ``before`` step returns (a dict) are kept in ``Env.vars`` and can be used in the row:
``$name`` inside the URL and header values (``$$`` for a literal dollar), and a string that is
exactly ``$name`` anywhere in ``params``, ``json``, ``data`` or the expected fragment. ``params``,
``json``, ``data`` and the URL may also be a function of the ``Env``. A row's ``user`` is a
login name or one of ``Env.users``' short names; ``None`` or ``"guest"`` sends no credentials.
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

    def __init__(self, app: Any, users: dict[str, str | None] | None = None) -> None:
        self.app = app
        self.site = app.site
        # Short names rows may give as ``user`` (e.g. "reader"), each a login name or None (Guest).
        self.users: dict[str, str | None] = {"admin": "Administrator", "guest": None, **(users or {})}
        self.vars: dict[str, Any] = {}
        self._clients: dict[str | None, InProcess] = {}

    def client(self, user: str | None) -> InProcess:
        """A client signed with an API key of ``user`` (a login or a short name; None: Guest);
        each request stands alone."""
        login = self.users.get(user, user) if user is not None else None
        if login == "Guest":
            login = None
        if login not in self._clients:
            headers = token_for(self.site, login) if login else {}
            self._clients[login] = InProcess(self.app, headers=headers, keep_cookies=False)
        return self._clients[login]

    __getitem__ = client

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


def open_env(tmp: Path, backend: str, request: Any, watch: Sequence[str] = (), *,
             env_class: type[Env] = Env, **config: Any) -> Env:
    """A new site on ``backend`` (``config`` in its site_config.json, e.g. ``apps`` and
    ``app_paths`` of the test's own apps) whose ``watch`` DocTypes record their hooks, served
    in process as an ``env_class``."""
    from ristretto.api.app import App
    if watch:
        recorder = recorder_app(tmp / "scenario-apps", watch)
        for key in ("apps", "app_paths"):
            config[key] = [*config.get(key, ()), *recorder[key]]
    return env_class(App(open_site(tmp, backend, request, **config)))


Steps = Callable[[Env], Any] | Sequence[Callable[[Env], Any]] | None


@dataclass
class Scenario:
    name: str
    method: str
    url: str | Callable[[Env], str]
    params: Any = None  # values that are not strings are sent as JSON text
    json: Any = None
    data: Any = None
    content: bytes | str | None = None  # a raw body
    headers: dict[str, str] = field(default_factory=dict)
    user: str | None = "Administrator"  # whose API key signs the request (see Env.client)
    status: int = 200
    # A fragment of the body (JSON, else its text), matched by ``contains`` (None: not checked).
    expect: Any = None
    # The hook names the Recorders received, in order (None: not checked).
    hooks: Sequence[str] | None = None
    before: Steps = None
    after: Steps = None

    def __str__(self) -> str:
        return self.name

    def run(self, env: Env) -> httpx.Response:
        """Set up, send the request, check status, body and hooks, then the ``after`` steps."""
        env.vars = {}
        for step in _steps(self.before):
            env.vars.update(step(env) or {})
        kw: dict[str, Any] = {"headers": {k: string.Template(v).substitute(env.vars)
                                          for k, v in self.headers.items()}}
        for key in ("params", "json", "data"):
            value = _resolve(getattr(self, key), env)
            if value is not None:
                kw[key] = value
        if isinstance(kw.get("params"), dict):
            kw["params"] = {k: v if isinstance(v, str) else json.dumps(v) for k, v in kw["params"].items()}
        if self.content is not None:
            kw["content"] = self.content
        url = self.url(env) if callable(self.url) else string.Template(self.url).substitute(env.vars)
        client = env.client(self.user)
        Recorder.events.clear()
        r = client.request(self.method, url, **kw)
        events = env.events
        where = f"[{self.name}] {self.method} {url} -> {r.status_code} {r.text[:2000]}\nhooks: {events}"
        assert r.status_code == self.status, where
        if self.expect is not None:
            contains(_body(r), _resolve(self.expect, env, call=False), f"{where}\nbody")
        if self.hooks is not None:
            assert events == list(self.hooks), where
        for step in _steps(self.after):
            step(env, r)
        return r


def scenarios(*rows: Scenario) -> pytest.MarkDecorator:
    """Parametrise a test's ``scenario`` argument over ``rows``, one test id per name."""
    names = [s.name for s in rows]
    dupes = sorted({n for n in names if names.count(n) > 1})
    assert not dupes, f"scenario names must be unique: {dupes}"
    return pytest.mark.parametrize("scenario", rows, ids=names)


ABSENT = object()  # in an expected dict: the key must be missing


class Text:
    """Expected: the value as compact JSON (a string as it is) holds each of ``has`` and none
    of ``lacks``."""

    def __init__(self, *has: str, lacks: Sequence[str] = ()) -> None:
        self.has, self.lacks = has, tuple(lacks)

    def __repr__(self) -> str:
        return f"Text({self.has!r}, lacks={self.lacks!r})"


def contains(actual: Any, fragment: Any, where: str = "body") -> None:
    """Assert that ``actual`` (a decoded JSON body or part of one) matches ``fragment``."""
    if isinstance(fragment, Text):
        text = actual if isinstance(actual, str) else _compact(actual)
        for s in fragment.has:
            assert s in text, f"{where}: {s!r} missing from {text[:2000]}"
        for s in fragment.lacks:
            assert s not in text, f"{where}: {s!r} unexpected in {text[:2000]}"
    elif callable(fragment) and not isinstance(fragment, type):
        assert fragment(actual) is not False, f"{where}: check failed on {actual!r}"
    elif isinstance(fragment, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in fragment.items():
            if value is ABSENT:
                assert key not in actual, f"{where}.{key} must be absent: {actual!r}"
                continue
            assert key in actual, f"{where}.{key} missing: {actual!r}"
            contains(actual[key], value, f"{where}.{key}")
    elif isinstance(fragment, (list, tuple)):
        assert isinstance(actual, list) and len(actual) == len(fragment), \
            f"{where}: expected {len(fragment)} items, got {actual!r}"
        for i, (a, f) in enumerate(zip(actual, fragment)):
            contains(a, f, f"{where}[{i}]")
    else:
        assert actual == fragment, f"{where}: expected {fragment!r}, got {actual!r}"


def _steps(steps: Steps) -> Sequence[Callable]:
    if steps is None:
        return ()
    return (steps,) if callable(steps) else steps


_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _resolve(value: Any, env: Env, call: bool = True) -> Any:
    """``value`` with every string that is exactly ``$name`` replaced by that kept value; a
    function is called with ``env`` (unless ``call`` is false: in an expected fragment a
    function checks the value)."""
    if callable(value) and not isinstance(value, type):
        return value(env) if call else value
    if isinstance(value, str):
        m = _VAR.fullmatch(value)
        return env.vars[m.group(1)] if m and m.group(1) in env.vars else value
    if isinstance(value, dict):
        return {k: _resolve(v, env, call) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve(v, env, call) for v in value]
    return value


def _body(r: httpx.Response) -> Any:
    """The decoded JSON body, else the text (empty for no body)."""
    if r.content and r.headers.get("content-type", "").startswith("application/json"):
        return r.json()
    return r.text


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
