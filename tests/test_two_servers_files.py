"""Two ``ristretto serve`` processes on one PostgreSQL site with its files on S3 (moto on
loopback): a file uploaded through one server downloads through the other, and a delete through
either is seen by both. Each server has its own site folder (as on two machines) holding the same
configuration: same ``db_url``, ``encryption_key`` and bucket."""

from __future__ import annotations

import shutil
import time

from ristretto.site.install import new_site
from tests.conftest import ADMIN_PASSWORD, configure_site, start_server, stop_server
from tests.s3server import bucket_keys, s3_config, s3_server  # noqa: F401 - fixtures


def test_file_uploaded_on_a_downloads_on_b_and_a_delete_on_b_is_gone_on_a(pg_cluster, s3_config, tmp_path):  # noqa: F811
    site_a, site_b = tmp_path / "machine-a", tmp_path / "machine-b"
    site, _ = new_site(site_a, pg_cluster.create_database(), ADMIN_PASSWORD)
    site.close()
    configure_site(site_a, **s3_config)
    site_b.mkdir()
    shutil.copy(site_a / "site_config.json", site_b / "site_config.json")
    a = start_server(site_a, "postgres")
    try:
        b = start_server(site_b, "postgres")
        try:
            # One Administrator key pair for both (each start_server made a new one; B's is current).
            auth = {"Authorization": f"token {b.api_key}:{b.api_secret}"}
            with a.client(headers=auth) as on_a, b.client(headers=auth) as on_b:
                uploaded = {}
                for private in (0, 1):
                    r = on_a.post("/api/method/upload_file", data={"is_private": str(private)},
                                  files={"file": (f"shared-{private}.txt", f"from A {private}".encode(), "text/plain")})
                    assert r.status_code == 200, r.text
                    uploaded[private] = r.json()["message"]
                for private, f in uploaded.items():
                    got = on_b.get(f["file_url"])
                    assert got.status_code == 200, got.text
                    assert got.content == f"from A {private}".encode()
                    assert on_b.get("/api/method/download_file", params={"file_url": f["file_url"]}).status_code == 200
                # Nothing on either machine's disk: the bucket holds the bytes.
                assert not (site_a / "public" / "files" / "shared-0.txt").exists()

                for f in uploaded.values():
                    assert on_b.delete(f"/api/resource/File/{f['name']}").status_code == 202
                for f in uploaded.values():
                    assert on_a.get(f["file_url"]).status_code in (403, 404)  # private: existence not disclosed
                    assert on_a.get(f"/api/resource/File/{f['name']}").status_code == 404
                deadline = time.time() + 10  # B removes the objects after its commit, in a thread
                while bucket_keys(s3_config) and time.time() < deadline:
                    time.sleep(0.05)
                assert bucket_keys(s3_config) == set()
        finally:
            stop_server(b.proc)
    finally:
        stop_server(a.proc)
