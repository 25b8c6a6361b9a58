"""Packaging metadata: the licence in the SPDX form setuptools wants (no deprecation warning on
every install) and the licence file it names."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import ROOT


def test_license_is_an_spdx_expression_with_its_file():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = meta["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    # SPDX strings and license-files need setuptools 77 or later.
    setuptools = next(r for r in meta["build-system"]["requires"] if r.startswith("setuptools"))
    assert int(re.search(r">=\s*(\d+)", setuptools).group(1)) >= 77


def test_every_file_of_the_desk_ships_in_the_package():
    """The admin UI's static files are package data: each one must match a pattern of
    pyproject.toml, or an installed (non-editable) server would answer 404 for it."""
    from fnmatch import fnmatch
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = meta["tool"]["setuptools"]["package-data"]["ristretto"]
    package = ROOT / "src" / "ristretto"
    static = package / "api" / "desk" / "static"
    files = [p.relative_to(package).as_posix() for p in static.rglob("*") if p.is_file()]
    assert files
    missing = [f for f in files if not any(fnmatch(f, pattern) and f.count("/") == pattern.count("/")
                                           for pattern in patterns)]
    assert missing == [], f"not in [tool.setuptools.package-data]: {missing}"
