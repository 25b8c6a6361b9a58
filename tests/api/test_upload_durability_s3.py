"""Uploads to S3 storage under kill -9 (both databases): the crash analysis of
``ristretto.api.s3store`` checked on a real server. Right after the kill, every File row has its
object, and an object without a row still has its pending marker and is not served; once the
markers are past the grace period, the sweep leaves exactly the objects the rows name."""

from __future__ import annotations

import time

import httpx

from ristretto.api import storage
from ristretto.api.s3store import PENDING_GRACE
from ristretto.site import Site
from tests.api.test_upload_durability import recorded_file_urls, uploads_until_killed
from tests.conftest import configure_site, start_server, stop_server
from tests.s3server import bucket_keys, s3_config, s3_server  # noqa: F401 - fixtures

WRITERS = 4
PREFIX = "site-a/"


def _split(keys: set[str]) -> tuple[set[str], set[str]]:
    """(URLs of stored objects, URLs of pending markers)."""
    objects, markers = set(), set()
    for key in keys:
        rest = key[len(PREFIX):]
        if rest.startswith(".pending/"):
            markers.add("/" + rest[len(".pending/"):])
        else:
            objects.add("/" + rest)
    return objects, markers


def test_s3_uploads_and_file_rows_agree_after_kill_9(site_dir, backend, s3_config):  # noqa: F811
    configure_site(site_dir, **s3_config)
    acknowledged = uploads_until_killed(site_dir, backend, per_writer=200, size=1024, kill_after=60, writers=WRITERS)
    assert len(acknowledged) >= 20

    restarted = start_server(site_dir, backend)
    try:
        recorded = recorded_file_urls(restarted)
        with httpx.Client(base_url=restarted.base_url, timeout=30,
                          headers={"Authorization": f"token {restarted.api_key}:{restarted.api_secret}"}) as c:
            objects, markers = _split(bucket_keys(s3_config))
            assert sorted(set(acknowledged) - recorded) == []
            assert sorted(recorded - objects) == []              # no row without its object
            unrecorded = objects - recorded
            assert sorted(unrecorded - markers) == []            # an object without a row is pending
            for url in sorted(unrecorded)[:5]:
                assert c.get(url).status_code in (403, 404)      # and never served
    finally:
        stop_server(restarted.proc)

    site = Site(site_dir)
    try:  # an hour later: the sweep settles every marker by asking the database
        storage.of(site).sweep(site, now=time.time() + PENDING_GRACE + 60)
    finally:
        site.close()
    objects, markers = _split(bucket_keys(s3_config))
    assert markers == set() and objects == recorded
