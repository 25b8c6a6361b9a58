"""``ristretto doctor``: a healthy site passes; each broken part gives its own line and a non-zero exit."""

from __future__ import annotations

import json
import sqlite3

from tests.conftest import configure_site, make_site, run_cli
from tests.pg import free_port
from tests.s3server import s3_config, s3_server  # noqa: F401 - fixtures


def _lines(site_dir, *args) -> tuple[int, list[str]]:
    r = run_cli("--site", str(site_dir), "doctor", *args, check=False)
    return r.returncode, r.stdout.splitlines()


def test_a_healthy_site_passes(tmp_path, backend, request):
    site_dir = make_site(tmp_path, backend, request)
    code, lines = _lines(site_dir, "--workers", "2")
    assert code == 0, lines
    assert all(line.split()[0] in ("ok", "skip") for line in lines), lines
    names = {line.split()[1].rstrip(":") for line in lines}
    assert {"site_config", "database", "schema", "encryption_key", "trusted_proxies", "disk"} <= names
    assert ("journal_mode" in names) == (backend == "sqlite")
    assert ("max_connections" in names) == (backend == "postgres")


def test_a_broken_site_says_what_is_wrong(tmp_path, backend, request):
    site_dir = make_site(tmp_path, backend, request)
    config = json.loads((site_dir / "site_config.json").read_text())
    del config["encryption_key"]
    config["sesion_expiry"] = "1:00:00"
    config["trusted_proxies"] = ["10.0.0.0/8", "not-an-address"]
    if backend == "postgres":
        config["db_url"] = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"  # nobody listens
    else:
        config["db_url"] = "sqlite:///missing.db"
    (site_dir / "site_config.json").write_text(json.dumps(config))
    code, lines = _lines(site_dir)
    assert code == 1
    text = "\n".join(lines)
    assert "warning site_config: unknown key 'sesion_expiry' (ignored); did you mean 'session_expiry'?" in text
    assert any(line.startswith("error   encryption_key: missing") for line in lines), text
    assert any(line.startswith("error   trusted_proxies:") and "not-an-address" in line for line in lines), text
    database = next(line for line in lines if line.split()[1] == "database:")
    assert database.startswith("error"), text
    assert ("cannot connect to PostgreSQL" in database) if backend == "postgres" else ("does not exist" in database)
    assert not (site_dir / "missing.db").exists()  # the check never creates a database
    assert not any(line.split()[1] == "schema:" for line in lines)  # no schema of an unreachable database


def test_an_unmigrated_schema_is_an_error(tmp_path):
    site_dir = make_site(tmp_path, "sqlite", None)
    conn = sqlite3.connect(site_dir / "site.db")
    conn.execute('DROP TABLE "tabNote"')
    conn.commit()
    conn.close()
    code, lines = _lines(site_dir)
    assert code == 1
    assert any(line.startswith("error   schema: not migrated (tabNote missing)") and "ristretto migrate" in line
               for line in lines), lines
    run_cli("--site", str(site_dir), "migrate")
    assert _lines(site_dir)[0] == 0


def test_an_invalid_encryption_key_is_an_error(tmp_path):
    site_dir = make_site(tmp_path, "sqlite", None)
    configure_site(site_dir, encryption_key="not-a-fernet-key")
    code, lines = _lines(site_dir)
    assert code == 1 and "error   encryption_key: not a valid Fernet key (32 url-safe base64-encoded bytes)" in lines
    assert not any("not-a-fernet-key" in line for line in lines)  # the value is never shown


def test_the_s3_bucket_is_checked(tmp_path, s3_config):
    site_dir = make_site(tmp_path, "sqlite", None)
    configure_site(site_dir, **s3_config)
    code, lines = _lines(site_dir)
    assert code == 0 and f"ok      s3: bucket {s3_config['s3_bucket']!r} reachable" in lines, lines
    configure_site(site_dir, s3_bucket="no-such-bucket")
    code, lines = _lines(site_dir)
    assert code == 1 and any(line.startswith("error   s3: bucket 'no-such-bucket' not reachable") for line in lines)
    assert not any(s3_config["s3_secret_access_key"] in line for line in lines)


def test_the_wal_replica_is_checked(tmp_path):
    from ristretto.backup.walship import Shipper
    from ristretto.model import document
    from ristretto.site import Site
    site_dir = make_site(tmp_path, "sqlite", None)
    code, lines = _lines(site_dir)
    assert "skip    wal_replica: no wal_replica (continuous backup of SQLite is off)" in lines, lines
    configure_site(site_dir, wal_replica="replica")
    code, lines = _lines(site_dir)
    assert code == 0 and any(line.startswith("warning wal_replica: nothing shipped to ") for line in lines), lines
    site = Site(site_dir)
    try:
        shipper = Shipper(site.db.path, site_dir / "replica", site_dir / "site_config.json").open()
        try:
            with site.admin() as ctx:
                document.insert(ctx, "ToDo", {"description": "shipped"})
            assert shipper.ship() > 0
        finally:
            shipper.close()
    finally:
        site.close()
    code, lines = _lines(site_dir)
    line = next(line for line in lines if " wal_replica:" in line)
    assert code == 0 and line.startswith(f"ok      wal_replica: {site_dir / 'replica'}: 1 generation(s), the oldest "
                                         "from "), line
    assert "last shipped " in line and " s ago)" in line
    (site_dir / "replica" / "replica.json").write_text("{not json")
    code, lines = _lines(site_dir)
    assert code == 1 and any(line.startswith("error   wal_replica: replica ") for line in lines), lines
