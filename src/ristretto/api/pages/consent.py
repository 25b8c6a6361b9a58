"""The OAuth consent page: which application asks, for whom, for what; Allow or Deny.

The authorize endpoint calls :func:`render` for a logged-in user. "Allow" is a form POSTing the
authorization request (``fields``) and the session's CSRF token to ``action`` (the approve
endpoint); "Deny" is a link to ``deny_url`` (the client's redirect URI carrying
``error=access_denied``). Every value is escaped: the application's name is chosen by whoever
registered the client.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from ristretto.api.asgi import Response
from ristretto.api.call import Call
from ristretto.api.pages import layout

# What each scope lets the application do, as the consent page says it (title, detail).
_SCOPES = {
    "openid": ("Know who you are", "Your full name, e-mail address, user image and roles."),
    "all": ("Full access to your account", "Read and change everything you can, on your behalf."),
}
# URL schemes that run code or embed content where a link is expected: never a link target.
_UNSAFE_SCHEMES = ("javascript:", "vbscript:", "data:", "blob:", "file:")


def _checked_url(url: str, what: str) -> str:
    # Browsers ignore control characters and white space inside a scheme ("java\tscript:").
    compact = "".join(c for c in url if c.isprintable() and not c.isspace()).lower()
    if compact.startswith(_UNSAFE_SCHEMES):
        raise ValueError(f"the consent page's {what} is not a web address")
    return escape(url)


def _destination(redirect_uri: str | None) -> str:
    """Where either answer sends the browser, by its origin: the user sees which site gets it."""
    parts = urlsplit(redirect_uri) if isinstance(redirect_uri, str) else None
    if parts is None or not parts.scheme:
        return "You will be sent back to the application."
    where = f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"
    return f"You will be sent back to <strong>{escape(where)}</strong>."


def describe(scope: str) -> tuple[str, str]:
    """The title and detail the page shows for one scope."""
    return _SCOPES.get(scope, (scope, "Access the data this permission names."))


def render(call: Call, *, app_name: str, user: str, scopes: list[str], action: str,
           fields: dict[str, str], deny_url: str, csrf_token: str) -> Response:
    """The consent page (200). ``fields`` are posted back as hidden inputs with ``csrf_token``."""
    items = []
    for scope in dict.fromkeys(scopes):  # each once, in the order asked
        title, detail = describe(scope)
        items.append(f'<li><strong>{escape(title)}</strong><span class="detail">{escape(detail)}</span></li>')
    hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">\n'
                     for k, v in fields.items() if k != "csrf_token")
    app = escape(app_name)
    body = (
        f'<h1 id="title">Authorize {app}</h1>\n'
        f'<p class="lead"><strong>{app}</strong> wants to access your account '
        f'<strong>{escape(user)}</strong>.</p>\n'
        '<h2 id="scopes-title">This will allow it to:</h2>\n'
        f'<ul class="scopes" aria-labelledby="scopes-title">\n{"".join(items)}\n</ul>\n'
        f'<p class="note">Allow only applications you trust. {_destination(fields.get("redirect_uri"))}</p>\n'
        '<div class="actions">\n'
        f'<a class="button secondary" href="{_checked_url(deny_url, "Deny link")}">Deny</a>\n'
        f'<form method="post" action="{_checked_url(action, "form action")}">\n{hidden}'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">\n'
        '<button type="submit">Allow</button>\n</form>\n</div>')
    return layout.page(f"Authorize {app_name}", body)
