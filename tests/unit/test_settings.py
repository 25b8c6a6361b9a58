"""Every site setting the code reads is declared in ``ristretto.site.settings`` and documented in
the README's "Site configuration" table (and every documented one is declared)."""

from __future__ import annotations

import re
from pathlib import Path

from ristretto.site.settings import BY_NAME, SETTINGS

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "ristretto"


def _readme_keys() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Site configuration", 1)[1].split("\n## ", 1)[0]
    keys: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            keys.update(re.findall(r"`([a-z0-9_]+)`", first_cell))
    return keys


def _keys_read_by_code() -> dict[str, str]:
    pattern = re.compile(r"""(?:config\.get|setting\(\s*[\w.]+\s*,)\s*\(?\s*["']([a-z0-9_]+)["']""")
    found: dict[str, str] = {}
    for path in SRC.rglob("*.py"):
        if path.name == "settings.py":
            continue
        for match in pattern.finditer(path.read_text()):
            found.setdefault(match.group(1), str(path.relative_to(ROOT)))
    return found


def test_every_setting_read_is_declared():
    undeclared = {k: where for k, where in _keys_read_by_code().items() if k not in BY_NAME}
    assert not undeclared, f"settings read but not declared in ristretto/site/settings.py: {undeclared}"


def test_every_declared_setting_is_documented():
    documented = _readme_keys()
    missing = [s.name for s in SETTINGS if s.name not in documented]
    assert not missing, f"settings missing from the README's Site configuration table: {missing}"


def test_every_documented_setting_is_declared():
    extra = sorted(_readme_keys() - set(BY_NAME))
    assert not extra, f"README documents settings the code does not declare: {extra}"


def test_the_scan_sees_known_reads():
    # Guards the scanner itself: if it found nothing, the first test could never fail.
    assert {"session_expiry", "max_file_size", "ignore_csrf"} <= set(_keys_read_by_code())
