"""Webhook conditions and body templates: Jinja in a sandbox with bounds on size and work.

Conditions read like Frappe's (``doc.status == "Open"``, ``doc.x is None``); fields read as
attributes even when named like a dict method (``doc.items``); what would escape the sandbox,
recurse, run long, or build huge values stops with a TemplateProblem, quickly.
"""

from __future__ import annotations

import time

import pytest

from ristretto.webhooks.templates import MAX_OUTPUT, Condition, Template, TemplateProblem

DOC = {"name": "T-1", "status": "Open", "total": 50000, "items": [{"item": "A", "qty": 2}], "due": None}


@pytest.mark.parametrize("source, expected", [
    ('doc.status == "Open"', True),
    ('doc.status=="Closed"', False),
    ("doc.total > 40000 and not doc.due", True),
    ("doc.due is None", True),
    ("doc.due is not None", False),
    ("doc.missing_field is None", True),
    ("doc.items[0].qty * 2 == 4", True),
    ("len(doc.items) == 1 and doc.get('status') in ('Open', 'Draft')", True),
    ("flt(doc.total) / 2 == 25000 and cint('7') == 7", True),
    ("nowdate() == utils.today()", True),
])
def test_conditions(source, expected):
    assert Condition(source).holds(DOC) is expected


def test_templates_render_fields_and_children():
    t = Template('{"id": "{{ doc.name }}", "lines": [{% for row in doc.items %}"{{ row.item }}x{{ row.qty }}"'
                 '{% if not loop.last %}, {% endif %}{% endfor %}], "doc": {{ doc | tojson }}}')
    import json
    out = json.loads(t.render(DOC))
    assert out["id"] == "T-1" and out["lines"] == ["Ax2"] and out["doc"]["total"] == 50000


@pytest.mark.parametrize("source", [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(10**9) %}{% endfor %}",
    '{{ "a" * 10**9 }}',
    "{{ [1] * 10**9 }}",
    "{{ 7 ** 100000000 }}",
    '{{ "%0999999999d" % 1 }}',
    '{{ "a".ljust(10**9) }}',
    '{{ "a"|center(10**9) }}',
    '{{ "{:>999999999}".format(1) }}',
    "{{ doc.__class__.__mro__ }}",
    "{{ doc.update({'x': 1}) }}",
    "{{ doc['items'].append(1) }}",
    "{% macro f(x) %}{{ f(x ~ x) }}{% endmacro %}{{ f('a') }}",
    "{% for x in doc['items'] recursive %}{{ loop(doc['items']) }}{% endfor %}",
    "{% include 'other' %}",
    "{% import 'other' as o %}",
    "{% set ns = namespace(x='a') %}",
    "{{ lipsum(10**6) }}",
    "{% for i in range(20) %}{{ 'x' * 99999 }}{% endfor %}",
])
def test_escapes_and_runaway_work_are_stopped_quickly(source):
    started = time.monotonic()
    with pytest.raises(TemplateProblem):
        Template(source).render(DOC)
    assert time.monotonic() - started < 3


def test_sizes_are_capped():
    with pytest.raises(TemplateProblem, match="longer than"):
        Condition("doc.x == 1" + " " * 5000)
    with pytest.raises(TemplateProblem, match="longer than"):
        Template("x" * (70 * 1024))
    with pytest.raises(TemplateProblem, match="longer than"):
        Template("{% for i in range(20) %}{{ 'y' * 90000 }}{% endfor %}").render(DOC)
    assert len(Template("{% for i in range(10) %}{{ 'y' * 90000 }}{% endfor %}").render(DOC)) < MAX_OUTPUT


@pytest.mark.parametrize("source", ["doc.x ==", "doc.x }} {{ 1", "1; 2", "doc.x == 1 {% endif %}"])
def test_a_condition_is_one_expression(source):
    with pytest.raises(TemplateProblem):
        Condition(source)


def test_private_attributes_are_undefined():
    assert Template("[{{ doc.items.__class__ }}|{{ doc.__init__ }}|{{ doc.name.__len__ }}]").render(DOC) == "[||]"
