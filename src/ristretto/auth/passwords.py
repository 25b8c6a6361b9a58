"""Secrets at rest: Argon2id password hashes and SHA-256 digests of API secrets.

Both live in the ``__Auth`` table, never in a document column. Password checks
use argon2's constant-time verify; API secrets are high-entropy random strings,
so a SHA-256 digest compared with ``hmac.compare_digest`` is enough and keeps
every API-key request cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ristretto.db.connection import Connection
from ristretto.db.dialects import quote

_hasher = PasswordHasher()  # argon2-cffi defaults: Argon2id, RFC 9106 low-memory profile
# Each hash holds tens of MiB: at most two at a time on a small machine.
MAX_CONCURRENT_HASHES = 2
_hash_slots = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)
_AUTH = quote("__Auth")
MAX_PASSWORD_LENGTH = 512


def hash_password(password: str) -> str:
    with _hash_slots:
        return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    if not stored:
        # Spend the same time as a real check so unknown users cannot be told apart.
        with _hash_slots:
            try:
                _hasher.verify(_DUMMY_HASH, password)
            except (VerificationError, InvalidHashError):
                pass
        return False
    with _hash_slots:
        try:
            return _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


_DUMMY_HASH = _hasher.hash(secrets.token_hex(8))


def digest_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(stored_digest: str | None, secret: str) -> bool:
    candidate = digest_secret(secret)
    return hmac.compare_digest(stored_digest or "0" * 64, candidate) and stored_digest is not None


def store(conn: Connection, doctype: str, name: str, fieldname: str, value: str) -> None:
    conn.execute(f"DELETE FROM {_AUTH} WHERE doctype = ? AND name = ? AND fieldname = ?",
                 (doctype, name, fieldname))
    conn.execute(f"INSERT INTO {_AUTH} (doctype, name, fieldname, password) VALUES (?, ?, ?, ?)",
                 (doctype, name, fieldname, value))


def fetch(conn: Connection, doctype: str, name: str, fieldname: str) -> str | None:
    return conn.value(f"SELECT password FROM {_AUTH} WHERE doctype = ? AND name = ? AND fieldname = ?",
                      (doctype, name, fieldname))


def remove_all(conn: Connection, doctype: str, name: str) -> None:
    conn.execute(f"DELETE FROM {_AUTH} WHERE doctype = ? AND name = ?", (doctype, name))
