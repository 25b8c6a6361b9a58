"""``model.listing._cache_key``: compiled list queries are keyed by the decoded request values
(the API decodes JSON text before the model sees it), without collisions between shapes."""

from __future__ import annotations

import datetime as dt

from ristretto.model.listing import _cache_key


def key(fields=None, filters=None, extra=()):
    return _cache_key(fields, filters, None, None, None, 20, 0, False, True, None, list(extra))


def test_decoded_values_have_a_key_equal_for_equal_values():
    a = key(["name", "status"], [["status", "=", "Open"]])
    assert a is not None and hash(a) == hash(key(["name", "status"], [["status", "=", "Open"]]))
    assert a == key(["name", "status"], [["status", "=", "Open"]])


def test_different_shapes_never_share_a_key():
    keys = [key("name"), key(["name"]), key(filters={"status": 1}), key(filters={"status": True}),
            key(filters={"status": "1"}), key(filters=[["status", "=", 1]]), key(filters={"status": 1.0})]
    assert len(set(keys)) == len(keys)


def test_values_requests_cannot_carry_are_not_cached():
    assert key(filters=[["date", "=", dt.date(2026, 1, 1)]]) is None
    assert key(filters=[["title", "=", "x" * 9000]]) is None  # too large to keep


def roles_key(roles):
    return _cache_key(["name"], None, None, None, None, 20, 0, False, True, roles, [])


def test_users_other_than_administrator_have_a_key_per_role_set():
    # The readable fields depend on the role set, so a compiled query is kept per role set:
    # users with the same roles share it, other role sets never do.
    a = roles_key(("DocPermPolicy", frozenset({"System Manager", "All"})))
    assert a is not None
    assert a == roles_key(("DocPermPolicy", frozenset({"All", "System Manager"})))
    assert a != roles_key(("DocPermPolicy", frozenset({"All"}))) and a != roles_key(None)
    # A trusted context reads every field: never the same key as a user's policy.
    assert a != roles_key(("AllowAll", frozenset({"System Manager", "All"})))
