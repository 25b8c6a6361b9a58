#!/usr/bin/env bash
# Install the dev extras and run the whole test suite (SQLite and PostgreSQL).
# PostgreSQL binaries are installed from Debian's packages when missing; the test
# run itself starts a throwaway cluster on a loopback port and removes it after.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev]'

have_pg() { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
if [ -z "${RISTRETTO_TEST_PG_URL:-}" ] && ! have_pg; then
    if [ "$(id -u)" = "0" ]; then
        echo "Installing PostgreSQL from Debian's packages..."
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        echo "PostgreSQL is not installed: run 'sudo apt-get install -y postgresql' (PostgreSQL tests will be skipped)" >&2
    fi
fi

exec .venv/bin/python -m pytest -q "$@"
