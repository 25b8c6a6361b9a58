"""``ristretto migrate`` on a site made before the OAuth DocTypes existed (both databases).

The older site is simulated by removing what a fresh site has and an older one lacked: the
OAuth DocTypes' definitions and tables, and the OAuth signing key. Migrate must bring them
back, so that OAuth clients can be managed over REST and the JWKS is published, and change
nothing when run again.
"""

from __future__ import annotations

from ristretto.db.dialects import quote
from ristretto.site import Site
from ristretto.site.install import migrate
from tests.conftest import ADMIN_PASSWORD
from tests.inprocess import InProcess

OAUTH = ("OAuth Client", "OAuth Client Role", "OAuth Authorization Code", "OAuth Bearer Token", "OAuth Settings")


def _make_old(site_dir) -> None:
    site = Site(site_dir)
    try:
        with site.db.connect() as conn, conn.transaction():
            for name in OAUTH:
                conn.execute(f"DELETE FROM {quote('tabDocType')} WHERE name = ?", (name,))
                conn.execute(f"DELETE FROM {quote('tabDocField')} WHERE parent = ?", (name,))
                conn.execute(f"DELETE FROM {quote('tabDocPerm')} WHERE parent = ?", (name,))
                if name != "OAuth Settings":
                    conn.execute(f"DROP TABLE {quote('tab' + name)}")
            conn.execute(f"DELETE FROM {quote('__Auth')} WHERE doctype = 'OAuth Settings'")
    finally:
        site.close()


def test_migrate_installs_the_oauth_doctypes_and_key(site_dir):
    _make_old(site_dir)
    with InProcess.open(site_dir) as c:
        c.post("/api/method/login", data={"usr": "Administrator", "pwd": ADMIN_PASSWORD})
        r = c.get("/api/resource/OAuth Client")
        assert r.status_code == 404, r.text  # what the older site answers
    site = Site(site_dir)
    try:
        done = migrate(site)
        assert "installed built-in DocType OAuth Client" in done, done
        assert "made the site's OAuth signing key (RS256)" in done, done
        again = migrate(site)
        assert not [line for line in again if "OAuth" in line], again
    finally:
        site.close()
    with InProcess.open(site_dir) as c:
        c.post("/api/method/login", data={"usr": "Administrator", "pwd": ADMIN_PASSWORD})
        r = c.post("/api/resource/OAuth Client", json={"app_name": "After Migrate",
                                                        "default_redirect_uri": "https://app.example/cb"})
        assert r.status_code == 200, r.text
        assert r.json()["data"]["client_id"] == r.json()["data"]["name"]
        r = c.get("/.well-known/jwks.json")
        assert r.status_code == 200 and r.json()["keys"][0]["alg"] == "RS256", r.text
