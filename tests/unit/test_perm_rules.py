"""``ristretto.permissions.rules.evaluate``: DocPerm rows + roles -> PermSet (05-permissions.md § 3, § 5)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ristretto.permissions.rules import ALL_LEVELS, FULL, RIGHTS, PermSet, evaluate


def ev(rows, roles, *, submittable=False, allow_import=False) -> PermSet:
    return evaluate(rows, frozenset(roles), submittable=submittable, allow_import=allow_import)


NOTE = [  # frappe/note.json
    {"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1, "email": 1, "export": 1,
     "print": 1, "report": 1, "share": 1},
    {"role": "System Manager", "permlevel": 1, "read": 1, "write": 1},
    {"role": "System Manager", "permlevel": 2, "read": 1, "write": 1},
    {"role": "Desk User", "read": 1, "export": 1, "print": 1, "report": 1},
    {"role": "Desk User", "if_owner": 1, "create": 1, "delete": 1, "email": 1, "share": 1, "write": 1},
    {"role": "Desk User", "permlevel": 1, "read": 1},
]


def test_union_over_held_roles_only():
    ps = ev([{"role": "A", "read": 1}, {"role": "B", "write": 1}, {"role": "C", "delete": 1}], {"A", "B"})
    assert ps.granted == {"read", "write"}
    assert ps.owner_only == frozenset()
    assert ps.allows("read") and not ps.allows("delete")


def test_no_roles_or_no_rows_grant_nothing():
    for rows, roles in (([], {"A"}), ([{"role": "A", "read": 1}], set()), ([{"role": "A", "read": 1}], {"B"})):
        ps = ev(rows, roles)
        assert ps.granted == frozenset() and ps.read_levels == frozenset() and not ps.can_list()


def test_if_owner_rights_hold_on_own_documents_only():
    ps = ev(NOTE, {"Desk User", "All", "Guest"})
    assert ps.granted == {"read", "export", "print", "report", "create", "delete", "email", "share", "write"}
    # read comes from a plain row; write/delete/email/share only from the if_owner row
    assert ps.owner_only == {"delete", "email", "share", "write"}


def test_create_is_never_owner_restricted():
    ps = ev([{"role": "All", "if_owner": 1, "create": 1, "read": 1}], {"All"})
    assert "create" in ps.granted and "create" not in ps.owner_only
    assert ps.owner_only == {"read"}
    assert ps.can_list()  # lists work, filtered to own documents


def test_a_plain_row_lifts_the_owner_restriction():
    rows = [{"role": "All", "if_owner": 1, "read": 1, "write": 1, "delete": 1},
            {"role": "Sales User", "read": 1, "write": 1}]
    assert ev(rows, {"All"}).owner_only == {"read", "write", "delete"}
    assert ev(rows, {"All", "Sales User"}).owner_only == {"delete"}


def test_rows_above_level_zero_grant_only_field_access():
    ps = ev([{"role": "A", "permlevel": 1, "read": 1, "write": 1, "delete": 1}], {"A"})
    assert ps.granted == frozenset()
    assert ps.read_levels == {1} and ps.write_levels == {1}
    assert ps.level_access("delete") == {1}


def test_permlevel_access_per_right():
    desk = ev(NOTE, {"Desk User"})
    assert desk.read_levels == {0, 1} and desk.write_levels == {0}
    assert desk.level_access("delete") == {0} and desk.level_access("submit") == frozenset()
    manager = ev(NOTE, {"System Manager"})
    assert manager.read_levels == {0, 1, 2} and manager.write_levels == {0, 1, 2}
    assert ev(NOTE, {"Guest"}).read_levels == frozenset()


def test_write_at_a_level_does_not_make_it_readable():
    """Frappe's get_permlevel_access("read") looks at the read column only."""
    ps = ev([{"role": "A", "read": 1}, {"role": "A", "permlevel": 3, "write": 1}], {"A"})
    assert ps.read_levels == {0} and ps.write_levels == {3}


@pytest.mark.parametrize("right", ["submit", "cancel", "amend"])
def test_submit_rights_only_on_submittable(right):
    rows = [{"role": "A", "read": 1, "write": 1, right: 1}]
    assert right not in ev(rows, {"A"}).granted
    assert right in ev(rows, {"A"}, submittable=True).granted


def test_import_only_when_allowed():
    rows = [{"role": "A", "read": 1, "import": 1}]
    assert "import" not in ev(rows, {"A"}).granted
    assert "import" in ev(rows, {"A"}, allow_import=True).granted


def test_select_only_lists_without_read():
    ps = ev([{"role": "All", "select": 1}], {"All"})
    assert ps.granted == {"select"} and ps.can_list() and not ps.allows("read")
    assert ps.read_levels == frozenset()


def test_loose_values_from_stored_rows():
    """Rows read from the database or a JSON export: strings, None, missing keys."""
    rows = [{"role": "A", "read": "1", "write": "0", "delete": None, "permlevel": "0", "if_owner": "0"},
            {"role": "A", "permlevel": "2", "read": "1"},
            {"role": "A", "share": 0, "if_owner": None}]
    ps = ev(rows, {"A"})
    assert ps.granted == {"read"} and ps.owner_only == frozenset() and ps.read_levels == {0, 2}


def test_full_grants_everything():
    assert FULL.granted == set(RIGHTS) and FULL.owner_only == frozenset()
    assert FULL.read_levels == ALL_LEVELS and all(FULL.level_access(r) == ALL_LEVELS for r in RIGHTS)


# --- against a direct transcription of the spec, on random rows -----------------------------------

ROLES = ["A", "B", "C", "All"]
row_strategy = st.fixed_dictionaries(
    {"role": st.sampled_from(ROLES), "permlevel": st.sampled_from([0, 0, 0, 1, 2]),
     "if_owner": st.sampled_from([0, 1])},
    optional={right: st.sampled_from([0, 1]) for right in RIGHTS})


def spec_scope(rows, roles, right, submittable, allow_import) -> str:
    """05 § 3 steps 4–6 as written: 'all', 'own' or 'none' for one right at DocType level."""
    if right in ("submit", "cancel", "amend") and not submittable:
        return "none"
    if right == "import" and not allow_import:
        return "none"
    level0 = [r for r in rows if r["role"] in roles and r["permlevel"] == 0 and r.get(right)]
    if not level0:
        return "none"
    if right != "create" and all(r["if_owner"] for r in level0):
        return "own"
    return "all"


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(row_strategy, max_size=8), roles=st.sets(st.sampled_from(ROLES)),
       submittable=st.booleans(), allow_import=st.booleans())
def test_matches_the_spec_on_random_rows(rows, roles, submittable, allow_import):
    ps = ev(rows, roles, submittable=submittable, allow_import=allow_import)
    for right in RIGHTS:
        expected = spec_scope(rows, roles, right, submittable, allow_import)
        got = "none" if right not in ps.granted else "own" if right in ps.owner_only else "all"
        assert got == expected, (right, rows, roles)
        levels = {r["permlevel"] for r in rows if r["role"] in roles and r.get(right)}
        assert ps.level_access(right) == levels
    assert ps.read_levels == ps.level_access("read") and ps.write_levels == ps.level_access("write")
