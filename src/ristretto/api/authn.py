"""Who is calling: password login, session resumption, API keys (token and Basic).

Implements the order of Frappe's request set-up: a login request logs in; otherwise
the session comes from the ``sid`` argument or cookie (a stale one degrades to
Guest with ``session_expired``); then an ``Authorization`` header with exactly two
parts is processed, and one that leaves the caller a Guest is a 401.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from ristretto.api.call import Call
from ristretto.auth import apikeys, passwords, sessions, throttle
from ristretto.auth.users import UserInfo, find_login_user, user_info
from ristretto.exceptions import AuthenticationError, CSRFTokenError, InvalidAuthorizationToken

AUTH_COOKIES = ("sid", "system_user", "full_name", "user_id", "user_image")
LOGIN_PATHS = frozenset({"/api/method/login", "/api/v1/method/login", "/api/v2/method/login",
                         "/api/method/login/", "/api/v1/method/login/", "/api/v2/method/login/"})
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


def is_login(call: Call) -> bool:
    return call.request.path in LOGIN_PATHS or call.form.get("cmd") == "login"


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


def login(call: Call, conn) -> Identity:
    """Password login (``usr``/``pwd``); 401 with Frappe's reason on failure."""
    usr = call.form.get("usr")
    pwd = call.form.get("pwd")
    if not usr or not pwd or not isinstance(usr, str) or not isinstance(pwd, str):
        raise AuthenticationError("Incomplete login details", title="Login failed")
    if len(pwd) > passwords.MAX_PASSWORD_LENGTH:
        raise AuthenticationError("Password size exceeded the maximum allowed size", title="Login failed")
    throttle.check(conn, call.site.config, usr, call.request.client)
    user = find_login_user(conn, usr.strip())
    stored = passwords.fetch(conn, "User", user, "password") if user and user != "Guest" else None
    if not passwords.verify_password(stored, pwd):
        raise AuthenticationError("Invalid login credentials", title="Login failed")
    info = cached_user(call, conn, user)
    if info is None or not info.enabled:
        # The answer of a wrong password: a right one must not tell that the account is disabled.
        raise AuthenticationError("Invalid login credentials", title="Login failed")
    throttle.clear(conn, usr, call.request.client)
    # Rotate: a session the client already held ends at login.
    old_sid = call.request.cookies.get("sid") if "cookie" in call.request.headers else None
    if old_sid and old_sid != "Guest":
        sessions.delete(conn, old_sid)
    session = sessions.create(conn, info.name, expiry_seconds(call), call.request.client)
    call.sid = session.sid
    set_session_cookies(call, info, session.sid)
    call.extra.update({"message": "Logged In" if info.user_type == "System User" else "No App",
                       "home_page": "/app" if info.user_type == "System User" else "/me",
                       "full_name": info.full_name})
    return Identity(info, "session")


def record_login_failure(call: Call, conn) -> None:
    usr = call.form.get("usr")
    if isinstance(usr, str) and usr:
        with conn.transaction():
            throttle.record_failure(conn, call.site.config, usr, call.request.client)


def resume(call: Call, conn) -> Identity:
    """The caller of a non-login request."""
    sid = call.form.get("sid")
    if not isinstance(sid, str) or not sid:
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
    header = call.request.header("authorization")
    if header is not None:
        identity = _authorization(call, conn, header, identity)
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
    if user is not None:
        if identity.via == "session":
            return identity  # v15: a valid cookie session keeps its user
        info = cached_user(call, conn, user)
        if info is not None and info.enabled:
            call.auth_via = "token"
            return Identity(info, "token")
    if identity.via == "guest":
        raise AuthenticationError("Invalid authentication credentials", title="Not permitted")
    return identity


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
