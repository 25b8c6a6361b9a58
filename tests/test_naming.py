"""Naming rules on a real database (both backends), including concurrent series counters."""

from __future__ import annotations

import datetime as _dt
import multiprocessing
import re

import pytest

from ristretto.exceptions import DuplicateEntryError, NameError, ValidationError
from ristretto.model import document
from ristretto.site import Site
from ristretto.site.install import _save_definition


def _doctype(ctx, name, autoname, extra_fields=()):
    _save_definition(ctx, {
        "name": name, "module": "Custom", "custom": 1, "autoname": autoname,
        "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"},
                   {"fieldname": "naming_series", "fieldtype": "Select", "label": "Series",
                    "options": "SO-.YYYY.-\nQT-.#####"}, *extra_fields],
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1}]})


@pytest.fixture
def site(site_dir):
    s = Site(site_dir)
    yield s
    s.close()


def test_rules(site):
    year = _dt.date.today().strftime("%Y")
    with site.admin() as ctx:
        _doctype(ctx, "N Hash", "hash")
        _doctype(ctx, "N Field", "field:title")
        _doctype(ctx, "N Series", "naming_series:")
        _doctype(ctx, "N Old", "TASK-.YYYY.-.#####")
        _doctype(ctx, "N Format", "format:INV-{YYYY}-{title}-{###}")
        _doctype(ctx, "N Auto", "autoincrement")
        _doctype(ctx, "N Prompt", "Prompt")
        _doctype(ctx, "N Plain", "title")
    with site.admin() as ctx:
        assert re.fullmatch(r"[0-9a-f]{10}", document.insert(ctx, "N Hash", {"title": "x"}, name="mine").name)
        assert document.insert(ctx, "N Field", {"title": "  Hello  "}).name == "Hello"
        assert document.insert(ctx, "N Series", {"title": "a"}).name == f"SO-{year}-00001"
        assert document.insert(ctx, "N Series", {"title": "b"}).name == f"SO-{year}-00002"
        assert document.insert(ctx, "N Series", {"title": "c", "naming_series": "QT-.#####"}).name == "QT-00001"
        assert document.insert(ctx, "N Old", {}).name == f"TASK-{year}-00001"
        assert document.insert(ctx, "N Format", {"title": "acme"}).name == f"INV-{year}-acme-001"
        first = document.insert(ctx, "N Auto", {}).name
        assert isinstance(first, int) and document.insert(ctx, "N Auto", {}).name == first + 1
        assert document.insert(ctx, "N Prompt", {}, name="Chosen Name").name == "Chosen Name"
        assert document.insert(ctx, "N Plain", {"title": "plain"}).name == "plain"
    with site.admin() as ctx:
        with pytest.raises(ValidationError):
            document.insert(ctx, "N Prompt", {})
    with site.admin() as ctx:
        with pytest.raises(ValidationError):
            document.insert(ctx, "N Field", {"title": ""})
    with site.admin() as ctx:
        with pytest.raises(DuplicateEntryError):
            document.insert(ctx, "N Field", {"title": "Hello"})
    with site.admin() as ctx:
        with pytest.raises(NameError):
            document.insert(ctx, "N Prompt", {}, name="<script>")


def _insert_many(site_dir, n, queue):
    site = Site(site_dir)
    names = []
    for _ in range(n):
        with site.admin() as ctx:
            names.append(document.insert(ctx, "N Old", {}).name)
    site.close()
    queue.put(names)


def test_series_counters_are_safe_under_concurrent_inserts(site, site_dir):
    with site.admin() as ctx:
        _doctype(ctx, "N Old", "TASK-.YYYY.-.#####")
    site.close()
    mp = multiprocessing.get_context("fork")
    queue = mp.Queue()
    procs = [mp.Process(target=_insert_many, args=(site_dir, 25, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    names = []
    for _ in procs:
        names += queue.get(timeout=120)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    numbers = sorted(int(n.rsplit("-", 1)[1]) for n in names)
    assert numbers == list(range(1, 101))
