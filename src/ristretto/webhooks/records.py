"""Webhooks as stored, and the change listener that turns changes into deliveries.

:class:`WebhookController` keeps a Webhook sound, as Frappe's does: submit events only on
submittable DocTypes, a condition and a body template that compile, an http(s) URL, one
request structure at a time, no field twice, a secret when security is on.

:class:`Webhooks` (one per site) listens to the change log inside each writing transaction.
A change maps to the document events Frappe fires for it (:func:`events`); for each enabled
webhook of the DocType on one of those events whose condition holds, the body is rendered from
the saved document and a delivery is queued in the same transaction. Like Frappe, one
transaction queues a webhook once per document (its last state), and nothing fires while
installing or importing. The enabled webhooks are cached per process and reloaded when the
``webhooks_version`` token changes (bumped in the transaction of any change to a Webhook), so a
change of a DocType no webhook watches costs one primary-key read. A condition or body that
fails to evaluate is recorded in Webhook Request Log instead of failing the user's write.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

from ristretto.db import state
from ristretto.db.batches import delete_in_batches
from ristretto.db.dialects import quote
from ristretto.exceptions import DoesNotExistError, PermissionError, ValidationError
from ristretto.meta.doctype import STANDARD_FIELDS
from ristretto.model import passwords
from ristretto.webhooks import queue
from ristretto.webhooks.templates import MAX_URL, Condition, Template, TemplateProblem

if TYPE_CHECKING:
    from ristretto.db.connection import Connection
    from ristretto.model.base import Document
    from ristretto.model.changelog import Change
    from ristretto.model.context import Context

VERSION_KEY = state.WEBHOOKS
LOG = "Webhook Request Log"
SUBMIT_EVENTS = frozenset({"on_submit", "on_cancel", "on_update_after_submit"})
DEFAULT_TIMEOUT = 5
MAX_TIMEOUT = 60
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
_MAX_HEADER_VALUE = 8192
_CREDENTIAL_HEADER = re.compile(r"authorization|cookie|token|secret|password|api-?key|^x-.*-key$", re.I)


def events(change: "Change") -> tuple[str, ...]:
    """The document events Frappe runs (and its webhooks react to) for a change-log action.

    Frappe's lifecycle: an insert runs after_insert then on_update (and on_submit when inserted
    submitted), never on_change; a save runs on_update and on_change; a submit on_update,
    on_submit and on_change; a cancel on_cancel and on_change; an update after submit
    on_update_after_submit and on_change; a delete on_trash. A rename runs none of these.
    """
    action, submitted = change.action, change.docstatus == 1
    if action in ("insert", "amend"):
        return ("after_insert", "on_update", "on_submit") if submitted else ("after_insert", "on_update")
    if action == "update":
        return ("on_update_after_submit", "on_change") if submitted else ("on_update", "on_change")
    if action == "submit":
        return ("on_update", "on_submit", "on_change")
    if action == "cancel":
        return ("on_cancel", "on_change")
    if action == "delete":
        return ("on_trash",)
    return ()


@dataclass(frozen=True)
class Hook:
    """An enabled webhook, compiled."""
    name: str
    doctype: str
    event: str
    timeout: float
    condition: Condition | None = None
    url: str = ""
    url_template: Template | None = None
    json_template: Template | None = None
    data: tuple[tuple[str, str], ...] = ()   # (fieldname, key) of webhook_data
    problem: str | None = None               # why it cannot be evaluated (stored before a check)


def load_hooks(conn: "Connection") -> dict[str, tuple[Hook, ...]]:
    """Every enabled webhook, compiled, by DocType."""
    if not _has_table(conn):  # a site made before webhooks, not migrated yet
        return {}
    rows = conn.sql(f"SELECT name, webhook_doctype, webhook_docevent, condition, request_url, is_dynamic_url, "
                    f"webhook_json, timeout FROM {quote('tabWebhook')} WHERE enabled = 1")
    if not rows:
        return {}
    data: dict[str, list[tuple[str, str]]] = {}
    for parent, fieldname, key in conn.sql(
            f"SELECT parent, fieldname, {quote('key')} FROM {quote('tabWebhook Data')} "
            f"WHERE parenttype = 'Webhook' ORDER BY parent, idx"):
        if fieldname and key:
            data.setdefault(parent, []).append((fieldname, key))
    out: dict[str, list[Hook]] = {}
    for name, doctype, event, condition, url, dynamic, body, timeout in rows:
        if not doctype or not event:
            continue
        timeout = min(float(timeout or DEFAULT_TIMEOUT), MAX_TIMEOUT)
        try:
            hook = Hook(name, doctype, event, timeout,
                        condition=Condition(condition) if condition else None,
                        url=url or "", url_template=Template(url or "", MAX_URL, MAX_URL) if dynamic else None,
                        json_template=Template(body) if body and name not in data else None,
                        data=tuple(data.get(name, ())))
        except TemplateProblem as e:
            hook = Hook(name, doctype, event, timeout, url=url or "", problem=str(e))
        out.setdefault(doctype, []).append(hook)
    return {k: tuple(v) for k, v in out.items()}


def _has_table(conn: "Connection") -> bool:
    from ristretto.db.schema import existing_columns
    return existing_columns(conn, "tabWebhook") is not None


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a webhook's request URL (None when it can)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        return f"the URL must be 1 to {MAX_URL} characters"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "the URL contains spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "the URL is malformed"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the URL must be http:// or https:// with a host"
    return None


def render(hook: Hook, values: dict) -> tuple[str, str]:
    """(request URL, body) of ``hook`` for a document's values, as Frappe builds them."""
    if hook.problem:
        raise TemplateProblem(hook.problem)
    url = hook.url
    if hook.url_template is not None:
        url = hook.url_template.render(values).strip()
    problem = check_url(url)
    if problem:
        raise TemplateProblem(f"request URL {url[:200]!r}: {problem}")
    data: Any = {}
    if hook.data:
        data = {key: values.get(fieldname) for fieldname, key in hook.data}
    elif hook.json_template is not None:
        text = hook.json_template.render(values)
        try:
            data = json.loads(text)
        except ValueError as e:
            raise TemplateProblem(f"the rendered JSON body is not valid JSON: {e}") from None
    # Frappe's body is json.dumps(data, default=str): the signature is made over these bytes.
    return url, json.dumps(data, default=str)


class Webhooks:
    """A site's webhooks: the cached enabled ones, the change listener, and wake-ups of the
    delivery tasks of this process (called after a commit that queued something)."""

    def __init__(self) -> None:
        self._snapshot: tuple[Any, dict[str, tuple[Hook, ...]]] | None = None
        self._lock = threading.Lock()
        self.wakers: list[Callable[[], None]] = []

    def hooks(self, conn: "Connection", doctype: str) -> tuple[Hook, ...]:
        token = state.value(conn, VERSION_KEY)
        snapshot = self._snapshot
        if snapshot is None or snapshot[0] != token:
            with self._lock:
                snapshot = (token, load_hooks(conn))
                self._snapshot = snapshot
        return snapshot[1].get(doctype, ())

    def wake(self) -> None:
        for waker in list(self.wakers):
            waker()

    def on_change(self, ctx: "Context", change: "Change", doc: "Document") -> None:
        if change.doctype == "Webhook":
            # Every worker drops its cached webhooks when this commits.
            state.bump(ctx.db, VERSION_KEY)
            return
        if ctx.flags.get("install") or ctx.flags.get("in_import"):
            return
        hooks = self.hooks(ctx.db, change.doctype)
        if not hooks:
            return
        fired = events(change)
        matching = [h for h in hooks if h.event in fired]
        if not matching:
            return
        values = doc.as_dict()
        queued: dict[tuple[str, str], str] = ctx.flags.setdefault("webhook_deliveries", {})
        for hook in matching:
            try:
                if hook.problem:
                    raise TemplateProblem(hook.problem)
                if hook.condition is not None and not hook.condition.holds(values):
                    continue
                url, body = render(hook, values)
            except TemplateProblem as e:
                record_attempt(ctx, hook.name, change.doctype, change.name, change.user, hook.url, None, None, None,
                               f"Not sent: the webhook could not be evaluated for this {hook.event} event: {e}")
                continue
            # Frappe sends a webhook once per document and transaction, with its last state.
            key = (hook.name, str(change.name))
            if key in queued:
                queue.discard(ctx.db, queued[key])
            queued[key] = queue.enqueue(ctx.db, webhook=hook.name, url=url, body=body, timeout=hook.timeout,
                                        reference_doctype=change.doctype, reference_document=str(change.name),
                                        event=hook.event, user=change.user)
            if self.wake not in ctx.on_commit:
                ctx.on_commit.append(self.wake)


def prune_log(conn: Any, retention_days: float, now: _dt.datetime | None = None) -> int:
    """Remove Webhook Request Log rows older than ``retention_days`` (0: keep all; Frappe keeps
    30 days); how many went."""
    if not retention_days or retention_days <= 0:
        return 0
    cutoff = ((now or _dt.datetime.now()) - _dt.timedelta(days=retention_days)).strftime("%Y-%m-%d %H:%M:%S.%f")
    return delete_in_batches(conn, "tab" + LOG, "name", "creation < ?", (cutoff,))


def record_attempt(ctx: "Context", webhook: str, doctype: str | None, docname: str | None, user: str | None,
                   url: str | None, headers: dict | None, body: str | None, response: str | None,
                   error: str | None) -> str:
    """One Webhook Request Log row (Frappe's fields), in the caller's transaction."""
    from ristretto.model.document import insert_record
    if headers:
        # Credentials a receiver asked for stay in the Webhook, not in every log row.
        headers = {k: "*****" if _CREDENTIAL_HEADER.search(k) else v for k, v in headers.items()}
    doc = insert_record(ctx, LOG, {
        "webhook": webhook, "reference_doctype": doctype, "reference_document": docname, "user": user,
        "url": url, "headers": json.dumps(headers, indent=1) if headers else None, "data": body,
        "response": response, "error": error})
    return str(doc.name)


def replay(ctx: "Context", name: str) -> str:
    """Queue again the request a Webhook Request Log row records (System Managers only): the
    same body, to the webhook's URL (or, for a dynamic URL, the one recorded), signed afresh
    with the webhook's current secret when it is sent. Returns the new delivery's name."""
    if not (ctx.is_admin or "System Manager" in ctx.roles):
        raise PermissionError("This action is only allowed for System Manager", title="Not Permitted")
    from ristretto.model.access import get_doc
    entry = get_doc(ctx, LOG, name).d
    webhook = entry.get("webhook")
    row = ctx.db.one(f"SELECT request_url, is_dynamic_url, timeout FROM {quote('tabWebhook')} WHERE name = ?",
                     (webhook,)) if webhook else None
    if row is None:
        raise DoesNotExistError(f"Webhook {webhook} not found", doctype="Webhook")
    body = entry.get("data")
    if body in (None, ""):
        raise ValidationError("This request was never sent (it has no body): there is nothing to replay",
                              title="Nothing to replay")
    request_url, dynamic, timeout = row
    url = entry.get("url") if dynamic else request_url
    problem = check_url(url or "")
    if problem:
        raise ValidationError(f"Check Request URL: {problem}", title="Invalid URL")
    return queue.enqueue(ctx.db, webhook=webhook, url=url, body=str(body),
                         timeout=min(float(timeout or DEFAULT_TIMEOUT), MAX_TIMEOUT),
                         reference_doctype=entry.get("reference_doctype"),
                         reference_document=entry.get("reference_document"), event="replay", user=ctx.user)


class WebhookController:
    """Frappe's Webhook.validate."""

    def validate(self, ctx: "Context", doc: "Document") -> None:
        d = doc.d
        target = ctx.find_meta(d.get("webhook_doctype") or "")
        if target is None:
            raise ValidationError(f"DocType {d.get('webhook_doctype')} not found", title="Invalid DocType")
        if d.get("webhook_docevent") in SUBMIT_EVENTS and not target.is_submittable:
            raise ValidationError("DocType must be Submittable for the selected Doc Event", title="Invalid event")
        if d.get("condition"):
            try:
                Condition(str(d["condition"]))
            except TemplateProblem as e:
                raise ValidationError(f"Invalid Condition: {e}", title="Invalid Condition") from None
        self._check_url(d)
        timeout = d.get("timeout")
        if timeout in (None, "", 0):
            d["timeout"] = DEFAULT_TIMEOUT
        elif not 0 < int(timeout) <= MAX_TIMEOUT:
            raise ValidationError(f"Request Timeout must be between 1 and {MAX_TIMEOUT} seconds",
                                  title="Invalid timeout")
        structure = d.get("request_structure")
        if structure == "Form URL-Encoded":
            d["webhook_json"] = None
        elif structure == "JSON":
            doc.children["webhook_data"] = []
            if d.get("webhook_json"):
                try:
                    Template(str(d["webhook_json"]))
                except TemplateProblem as e:
                    raise ValidationError(f"Invalid JSON Request Body template: {e}", title="Invalid template") \
                        from None
        self._check_data(doc, target)
        self._check_headers(doc)
        if d.get("enable_security"):
            secret = d.get("webhook_secret")
            stored = doc.previous is not None and doc.previous.d.get("webhook_secret") not in (None, "")
            if secret in (None, "") or (passwords.is_mask(secret) and not stored):
                raise ValidationError("Invalid Webhook Secret", title="Invalid secret")

    @staticmethod
    def _check_url(d: dict) -> None:
        url = d.get("request_url") or ""
        if d.get("is_dynamic_url"):
            try:
                Template(str(url), MAX_URL, MAX_URL)
            except TemplateProblem as e:
                raise ValidationError(f"Check Request URL: {e}", title="Invalid URL") from None
            return
        problem = check_url(url)
        if problem:
            raise ValidationError(f"Check Request URL: {problem}", title="Invalid URL")

    @staticmethod
    def _check_data(doc: "Document", target: Any) -> None:
        rows = doc.children.get("webhook_data", [])
        names = [r.d.get("fieldname") for r in rows]
        if len(names) != len(set(names)):
            raise ValidationError("Same Field is entered more than once", title="Duplicate field")
        known = set(STANDARD_FIELDS) | {f.fieldname for f in target.data_fields} \
            | {f.fieldname for f in target.table_fields}
        for name in names:
            if name not in known:
                raise ValidationError(f"{name} is not a field of {target.name}", title="Invalid field")

    @staticmethod
    def _check_headers(doc: "Document") -> None:
        for row in doc.children.get("webhook_headers", []):
            key, value = row.d.get("key"), row.d.get("value")
            if key and not _HEADER_NAME.match(str(key)):
                raise ValidationError(f"Header name {str(key)[:100]!r} is not valid", title="Invalid header")
            if value and (len(str(value)) > _MAX_HEADER_VALUE or any(c in str(value) for c in "\r\n\0")):
                raise ValidationError(f"The value of header {key} is not valid", title="Invalid header")


def install(registry: Any) -> Webhooks:
    """Register the Webhook controller and the change listener on a site's registry."""
    webhooks = Webhooks()
    registry.controllers["Webhook"] = WebhookController()
    registry.change_listeners.append(webhooks.on_change)
    return webhooks


__all__ = ["Webhooks", "WebhookController", "Hook", "events", "render", "record_attempt", "check_url", "install",
           "load_hooks", "replay", "VERSION_KEY"]
