"""Who is calling: password login, session resumption, API keys (token and Basic), OAuth Bearer.

Implements the order of Frappe's request set-up: a login request logs in; otherwise
the session comes from the ``sid`` argument or cookie (a stale one degrades to
Guest with ``session_expired``); then an ``Authorization`` header with exactly two
parts is processed, and one that leaves the caller a Guest is a 401.

A login is two steps around its password check (:func:`begin_login`, :func:`login`), so
that ``App`` can run the Argon2 work off the event loop and outside any transaction.
Besides Frappe's CSRF token, unsafe requests of a cookie session that a browser marks as
cross-site (``ristretto.api.proxy.cross_site``) are refused.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from dataclasses import dataclass

from ristretto.api import proxy
from ristretto.api.call import Call
from ristretto.auth import apikeys, passwords, sessions, throttle
from ristretto.auth.oauth import records as oauth_records
from ristretto.auth.users import UserInfo, find_login_user, user_info
from ristretto.exceptions import AuthenticationError, CSRFTokenError, InvalidAuthorizationToken

AUTH_COOKIES = ("sid", "system_user", "full_name", "user_id", "user_image")
UNSAFE = frozenset({"POST", "PUT", "DELETE", "PATCH"})


@dataclass
class Identity:
    info: UserInfo
    via: str  # "session", "token", "guest"


GUEST = UserInfo("Guest", True, "Website User", "Guest", frozenset({"Guest"}))


def guest() -> Identity:
    return Identity(GUEST, "guest")


def cached_user(call: Call, conn, user: str) -> UserInfo | None:
    cache = call.site.auth_cache
    info = cache.get("user", user)
    if info is None:
        info = user_info(conn, user)
        if info is not None:
            cache.put("user", user, info, call.auth_version)
    return info


def expiry_seconds(call: Call) -> float:
    return sessions.parse_expiry(call.site.config.get("session_expiry"))


def set_session_cookies(call: Call, info: UserInfo, sid: str) -> None:
    secure = call.request.is_https
    max_age = int(expiry_seconds(call))
    call.set_cookie("sid", sid, max_age=max_age, http_only=True, secure=secure)
    call.set_cookie("system_user", "yes" if info.user_type == "System User" else "no", secure=secure)
    call.set_cookie("full_name", info.full_name, secure=secure)
    call.set_cookie("user_id", info.name, secure=secure)
    call.set_cookie("user_image", "", secure=secure)


def clear_session_cookies(call: Call) -> None:
    for name in AUTH_COOKIES:
        call.set_cookie(name, None)


class PasswordWork:
    """The Argon2 work of a login, done between :func:`begin_login` and :func:`login`: ``App``
    runs it in a thread pool, so it holds neither the event loop nor the database write lock."""

    __slots__ = ("user", "stored", "password", "throttle_key", "verified")

    def __init__(self, user: str | None, stored: str | None, password: str, throttle_key: str):
        self.user, self.stored, self.password, self.throttle_key = user, stored, password, throttle_key
        self.verified: bool | None = None

    def run(self) -> None:
        try:
            self.verified = passwords.verify_password(self.stored, self.password)
        except Exception:  # noqa: BLE001 - (out of memory and the like) the login fails, not the server
            logging.getLogger("ristretto").exception("password check failed")
            self.verified = False


def client_address(call: Call) -> str | None:
    return proxy.client_address(call.request, call.site.config)


def begin_login(call: Call, conn) -> PasswordWork:
    """Check a login's arguments, find its user and count the attempt (throttling); the
    password check is left to the caller."""
    return begin_password_check(call, conn, call.form.get("usr"), call.form.get("pwd"))


def begin_password_check(call: Call, conn, usr, pwd, *, in_transaction: bool = False) -> PasswordWork:
    """:func:`begin_login` for any pair of user name and password (the OAuth password grant's
    ``username``/``password`` too). ``in_transaction``: count the attempt in the caller's
    transaction, which the caller commits whatever the outcome."""
    if not usr or not pwd or not isinstance(usr, str) or not isinstance(pwd, str):
        raise AuthenticationError("Incomplete login details", title="Login failed")
    if len(pwd) > passwords.MAX_PASSWORD_LENGTH:
        raise AuthenticationError("Password size exceeded the maximum allowed size", title="Login failed")
    user = find_login_user(conn, usr.strip())
    key = throttle.user_key(user, usr)
    throttle.reserve(conn, call.site.config, key, client_address(call), own_transaction=not in_transaction)
    stored = passwords.fetch(conn, "User", user, "password") if user and user != "Guest" else None
    return PasswordWork(user, stored, pwd, key)


def checked_user(call: Call, conn, work: PasswordWork) -> UserInfo | None:
    """The enabled user whose password ``work`` verified (its throttling count cleared), or None."""
    user = work.user
    # A password changed since it was checked does not let the old one in.
    if not work.verified or passwords.fetch(conn, "User", user, "password") != work.stored:
        return None
    info = cached_user(call, conn, user)
    if info is None or not info.enabled:
        return None
    throttle.clear(conn, work.throttle_key, client_address(call), call.site.config)
    return info


def login(call: Call, conn, work: PasswordWork) -> Identity:
    """Password login (``usr``/``pwd``), given :func:`begin_login`'s work with its password
    checked; 401 with Frappe's reason on failure. The attempt was counted as a failure by
    ``begin_login``; a success clears the count."""
    info = checked_user(call, conn, work)
    if info is None:
        # One answer for a wrong password and a disabled account: a right password must not
        # tell that the account is disabled.
        raise AuthenticationError("Invalid login credentials", title="Login failed")
    # Rotate: a session the client already held ends at login.
    old_sid = call.request.cookies.get("sid") if "cookie" in call.request.headers else None
    if old_sid and old_sid != "Guest":
        sessions.delete(conn, old_sid)
    session = sessions.create(conn, info.name, expiry_seconds(call), client_address(call))
    call.sid = session.sid
    set_session_cookies(call, info, session.sid)
    call.extra.update({"message": "Logged In" if info.user_type == "System User" else "No App",
                       "home_page": "/app" if info.user_type == "System User" else "/me",
                       "full_name": info.full_name})
    return Identity(info, "session")


def resume(call: Call, conn, authorization: bool = True) -> Identity:
    """The caller of a non-login request. ``authorization`` false: the ``Authorization``
    header belongs to the method (OAuth client credentials) and names no user."""
    sid = call.form.get("sid")
    from_cookie = not isinstance(sid, str) or not sid
    if from_cookie:
        sid = call.request.cookies.get("sid") if "cookie" in call.request.headers else None
    identity = guest()
    if sid and sid != "Guest":
        cache = call.site.auth_cache
        session = sessions.resume(conn, sid, cache.get("session", sid))
        if session is not None:
            cache.put("session", sid, session, call.auth_version)
        else:
            cache.drop("session", sid)
        info = cached_user(call, conn, session.user) if session else None
        if session is None or info is None or not info.enabled:
            call.extra["session_expired"] = 1
            clear_session_cookies(call)
        else:
            call.sid = sid
            identity = Identity(info, "session")
            # Sliding expiry: every response re-issues the cookie with a fresh Max-Age.
            call.set_cookie("sid", sid, max_age=int(session.expiry), http_only=True,
                            secure=call.request.is_https)
            if call.request.method in UNSAFE and session.csrf_token and not call.site.config.get("ignore_csrf"):
                token = call.request.header("x-frappe-csrf-token") or call.form.pop("csrf_token", None)
                if token != session.csrf_token:
                    raise CSRFTokenError("Invalid Request", title="Invalid Request")
    header = call.request.header("authorization") if authorization else None
    if header is not None:
        identity = _authorization(call, conn, header, identity)
    # A page on another site can make the browser send the session cookie, whether or not the
    # session has a CSRF token yet, but not an API key: a browser that says the request comes
    # from another site, not one allowed, is refused unless a key authenticated it.
    if from_cookie and identity.via == "session" and call.auth_via != "token" \
            and call.request.method in UNSAFE and proxy.cross_site(call.request, call.site.config):
        raise CSRFTokenError("Invalid Request", title="Invalid Request")
    return identity


def _authorization(call: Call, conn, header: str, identity: Identity) -> Identity:
    parts = header.split(" ")
    if len(parts) != 2:
        return identity
    scheme, credential = parts[0].lower(), parts[1]
    user: str | None = None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credential, validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InvalidAuthorizationToken(
                "Failed to decode token, please provide a valid base64-encoded token.",
                title="Invalid token") from None
        user = _key_pair(call, conn, decoded)
    elif scheme == "token":
        user = _key_pair(call, conn, credential)
    elif scheme == "bearer":
        # A live OAuth token always wins over a cookie session; any other one leaves the
        # caller as it was (a Guest then gets the 401 below).
        info = _bearer(call, conn, credential)
        if info is not None:
            call.auth_via = "token"
            return Identity(info, "token")
    if user is not None:
        call.auth_via = "token"
        if identity.via == "session":
            return identity  # v15: a valid cookie session keeps its user
        info = cached_user(call, conn, user)
        if info is not None and info.enabled:
            return Identity(info, "token")
    if identity.via == "guest":
        raise AuthenticationError("Invalid authentication credentials", title="Not permitted")
    return identity


def _bearer(call: Call, conn, token: str) -> UserInfo | None:
    """The enabled user of a live OAuth access token, or None."""
    cache = call.site.auth_cache
    key = oauth_records.digest(token) if len(token) <= oauth_records.MAX_CREDENTIAL else None
    if key is None:
        return None
    check = cache.get("bearer", key)
    if check is None:
        check = oauth_records.bearer_check(conn, token)
        cache.put("bearer", key, check, call.auth_version)
    if check.user is None or check.expires_at <= time.time():
        return None
    info = cached_user(call, conn, check.user)
    return info if info is not None and info.enabled and info.name != "Guest" else None


def _key_pair(call: Call, conn, credential: str) -> str | None:
    if ":" not in credential:
        return None
    key, secret = credential.split(":", 1)
    cache = call.site.auth_cache
    record = cache.get("key", key)
    if record is None:
        record = apikeys.lookup(conn, key)
        if record is not None:
            cache.put("key", key, record, call.auth_version)
    user = apikeys.check(record, secret)
    if user is None:
        raise AuthenticationError("Invalid API key or secret", title="Not permitted")
    return user


def page_csrf_token(call: Call) -> str:
    """The session's CSRF token for a page to send with its unsafe requests ("" for Guests), minted
    in its own committed transaction when the session has none yet (a page is a GET, whose own
    transaction is rolled back)."""
    if not call.sid or call.ctx.user == "Guest":
        return ""
    conn = call.ctx.db
    in_tx = conn.in_transaction
    conn.rollback()
    with conn.transaction():
        token = sessions.ensure_csrf_token(conn, call.sid)
    if in_tx:
        conn.begin(write=False)
    return token or ""
