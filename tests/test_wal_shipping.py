"""Continuous backup of SQLite sites: the WAL shipped to a replica folder, restored to a point.

The issue's check is the first test: a real ``ristretto serve`` with shipping on, writers over
HTTP, kill -9 of the whole process group, restore from the replica alone, and nothing
acknowledged more than a few seconds before the kill is missing. The others drive the shipper
in process (``ristretto.backup.walship.Shipper``) against a real site database.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from ristretto.backup import walformat
from ristretto.backup.walrestore import WalRestoreError, restore_to_time
from ristretto.backup.walship import Shipper
from ristretto.model import document
from ristretto.site import Site
from tests.conftest import configure_site, make_site, run_cli, start_server, stop_server
from tests.s3server import bucket_keys, s3_config, s3_server  # noqa: F401 - fixtures

# A write acknowledged this long before the machine is lost must be in the replica.
MAX_LOSS_SECONDS = 3.0


def _names(db: Path, doctype: str = "ToDo") -> set[str]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return {row[0] for row in conn.execute(f'SELECT name FROM "tab{doctype}"')}


def _create(site: Site, n: int, tag: str) -> list[str]:
    """``n`` ToDos, each in a transaction (a commit) of its own."""
    names = []
    for i in range(n):
        with site.admin() as ctx:
            names.append(document.insert(ctx, "ToDo", {"description": f"{tag} {i}"}).name)
    return names


@pytest.fixture
def sqlite_site(tmp_path, request) -> Site:
    site_dir = make_site(tmp_path, "sqlite", request)
    configure_site(site_dir, wal_replica="replica")
    site = Site(site_dir)
    # What a server worker does with shipping on: no checkpoint but the shipper's.
    site.db.stop_checkpoints()
    yield site
    site.close()


def _segments(root: Path, generation: str) -> list[walformat.Segment]:
    folder = root / "generations" / generation / "segments"
    return [walformat.parse_segment(seq, (folder / name.rsplit("/", 1)[-1]).read_bytes(), name)
            for seq, name in walformat.segment_keys([p.name for p in folder.iterdir()])]


def _shipper(site: Site, **kw) -> Shipper:
    return Shipper(site.db.path, site.path / "replica", site.path / "site_config.json", **kw).open()


def test_kill_9_of_the_server_loses_nothing_older_than_seconds(tmp_path, request):
    site_dir = make_site(tmp_path, "sqlite", request)
    configure_site(site_dir, wal_replica=str(tmp_path / "replica"))
    server = start_server(site_dir, "sqlite", workers=2)
    auth = {"Authorization": f"token {server.api_key}:{server.api_secret}"}
    acknowledged: list[tuple[str, float]] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        with httpx.Client(base_url=server.base_url, headers=auth, timeout=5) as c:
            for i in range(3000):  # bounded: at most 3,000 requests per writer (and 6 s below)
                if stop.is_set():
                    return
                try:
                    r = c.post("/api/resource/ToDo", json={"description": f"shipped {n}-{i}"})
                except httpx.HTTPError:
                    return  # the server died mid-request: never acknowledged
                if r.status_code == 200:
                    acknowledged.append((r.json()["data"]["name"], time.time()))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(6)
        killed_at = time.time()
        os.killpg(server.proc.pid, signal.SIGKILL)  # the machine is lost: nothing flushes, nothing ships
        server.proc.wait(10)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        stop_server(server.proc)
    assert len(acknowledged) >= 100

    result = restore_to_time(str(tmp_path / "replica"), str(tmp_path / "restored"), None, None)
    present = _names(tmp_path / "restored" / "site.db")
    missing = [(name, at) for name, at in acknowledged if name not in present]
    old_missing = [name for name, at in missing if at < killed_at - MAX_LOSS_SECONDS]
    newest_missing = max((killed_at - at for _, at in missing), default=0.0)
    print(f"\nWAL shipping, kill -9: {len(acknowledged)} acknowledged, {len(missing)} missing after restore "
          f"(oldest missing acknowledged {newest_missing:.2f} s before the kill); {result}")
    assert old_missing == []
    # The restored folder is a site: it opens, and it serves the same documents.
    restored = Site(tmp_path / "restored")
    try:
        original = json.loads((site_dir / "site_config.json").read_text())
        assert restored.config["encryption_key"] == original["encryption_key"]
        assert "wal_replica" not in restored.config
    finally:
        restored.close()


def test_restore_to_time_stops_at_the_last_commit_before_it(sqlite_site):
    shipper = _shipper(sqlite_site)
    try:
        before = _create(sqlite_site, 20, "before")
        shipper.ship()
        time.sleep(0.05)
        point = dt.datetime.now(dt.timezone.utc)
        time.sleep(0.05)
        after = _create(sqlite_site, 20, "after")
        shipper.ship()
    finally:
        shipper.close()
    root = sqlite_site.path / "replica"
    at_point = restore_to_time(str(root), str(sqlite_site.path.parent / "at-point"), point, None)
    names = _names(sqlite_site.path.parent / "at-point" / "site.db")
    assert set(before) <= names and not set(after) & names
    assert at_point["last_commit_time"] <= point.isoformat()
    calls = []
    latest = restore_to_time(str(root), str(sqlite_site.path.parent / "latest"), None,
                             lambda done, total, what: calls.append((done, total)))
    assert calls[-1][0] == calls[-1][1] == len(calls) - 1 >= 3   # the snapshot, each segment, done
    assert set(before + after) <= _names(sqlite_site.path.parent / "latest" / "site.db")
    assert latest["commits"] >= at_point["commits"] + 20
    # No generation began that early: said so, nothing written.
    with pytest.raises(WalRestoreError, match="no generation"):
        restore_to_time(str(root), str(sqlite_site.path.parent / "too-early"),
                        point - dt.timedelta(hours=1), None)
    assert not (sqlite_site.path.parent / "too-early" / "site.db").exists()


def test_no_frame_is_lost_across_the_shippers_checkpoints(sqlite_site):
    """A long write loop on another thread while the shipper looks, checkpoints and lets the WAL
    restart every few looks: the restored database equals the live one row for row."""
    shipper = _shipper(sqlite_site, checkpoint_pages=10, restart_frames=50)
    writer = threading.Thread(target=_create, args=(sqlite_site, 1000, "loop"))

    def raw_writes() -> None:
        # Small commits in a quick succession, so commits land between every two steps of
        # the shipper (its look, its copy, its checkpoint).
        conn = sqlite3.connect(sqlite_site.db.path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("CREATE TABLE IF NOT EXISTS scratch (n INTEGER)")
        for n in range(20_000):  # bounded
            if not writer.is_alive():
                break
            conn.execute("INSERT INTO scratch VALUES (?)", (n,))
            time.sleep(0.0005)
        conn.close()

    fast = threading.Thread(target=raw_writes)
    try:
        writer.start()
        fast.start()
        deadline = time.monotonic() + 60
        while writer.is_alive() and time.monotonic() < deadline:
            shipper.ship()
            time.sleep(0.002)
        writer.join(30)
        fast.join(30)
        shipper.ship()
        generation = shipper.generation
    finally:
        writer.join(60)   # bounded writes: the site must not close under them
        fast.join(60)
        shipper.close()
    restarts = sum(1 for seg in _segments(sqlite_site.path / "replica", generation) if seg.first == 0)
    assert restarts >= 2, "the WAL was never restarted: the test would not show frames survive it"
    # One generation: the shipper followed every restart it allowed, no new snapshot was needed.
    assert len(walformat.parse_replica((sqlite_site.path / "replica" / "replica.json").read_bytes(), "replica")["generations"]) == 1
    result = restore_to_time(str(sqlite_site.path / "replica"), str(sqlite_site.path.parent / "r"), None, None)
    assert result["generation"] == generation
    query = 'SELECT name, description, modified FROM "tabToDo" ORDER BY name'
    with sqlite3.connect(sqlite_site.path.parent / "r" / "site.db") as restored, \
            sqlite3.connect(sqlite_site.db.path) as live:
        assert restored.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = restored.execute(query).fetchall()
        assert len(rows) == 1000
        assert rows == live.execute(query).fetchall()
        assert restored.execute("SELECT count(*) FROM scratch").fetchone() == \
            live.execute("SELECT count(*) FROM scratch").fetchone()


def test_a_wal_restart_by_another_program_starts_a_new_generation(sqlite_site):
    shipper = _shipper(sqlite_site)
    try:
        first = _create(sqlite_site, 10, "first")
        shipper.ship()
        # Another program checkpoints and restarts the WAL at a moment the shipper does not pin
        # it (as if its read transactions had been cut): frames it never saw are gone from the WAL.
        for pin in shipper._conns[:2]:
            if pin.in_transaction:
                pin.execute("COMMIT")
        unseen = _create(sqlite_site, 10, "unseen")
        other = sqlite3.connect(sqlite_site.db.path)
        try:
            assert other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        finally:
            other.close()
        later = _create(sqlite_site, 10, "later")
        old_generation = shipper.generation
        shipper.step()
        assert shipper.generation != old_generation
        last = _create(sqlite_site, 5, "last")
        shipper.ship()
    finally:
        shipper.close()
    meta = walformat.parse_replica((sqlite_site.path / "replica" / "replica.json").read_bytes(), "replica")
    assert [g["id"] for g in meta["generations"]][-1] == shipper.generation
    assert "another program" in meta["generations"][-1]["reason"]
    restore_to_time(str(sqlite_site.path / "replica"), str(sqlite_site.path.parent / "r"), None, None)
    assert set(first + unseen + later + last) <= _names(sqlite_site.path.parent / "r" / "site.db")


def test_replicate_command_ships_and_a_second_shipper_is_refused(sqlite_site):
    _create(sqlite_site, 3, "cli")
    out = run_cli("--site", str(sqlite_site.path), "replicate", "--once").stdout
    assert "generation 000001" in out
    shipper = _shipper(sqlite_site)
    try:
        refused = run_cli("--site", str(sqlite_site.path), "replicate", "--once", check=False)
        assert refused.returncode != 0 and "another process ships" in refused.stderr
    finally:
        shipper.close()
    restore_to_time(str(sqlite_site.path / "replica"), str(sqlite_site.path.parent / "r"), None, None)
    assert len(_names(sqlite_site.path.parent / "r" / "site.db")) == 3


@pytest.fixture
def s3_replica(monkeypatch):
    """An ``s3://`` replica in a new bucket of a moto server on loopback (boto3 configured by
    its own environment variables, as a deployment would)."""
    moto_server = pytest.importorskip("moto.moto_server.threaded_moto_server")
    boto3 = pytest.importorskip("boto3")
    from tests.pg import free_port
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing-key", "AWS_SECRET_ACCESS_KEY": "testing-secret",
                            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}.items():
            monkeypatch.setenv(name, value)
        boto3.session.Session().client("s3").create_bucket(Bucket="replicas")
        yield "s3://replicas/site-a"
    finally:
        server.stop()


def test_shipping_to_s3_and_restoring_from_it(sqlite_site, s3_replica):
    shipper = Shipper(sqlite_site.db.path, s3_replica, sqlite_site.path / "site_config.json",
                      checkpoint_pages=20, restart_frames=60).open()
    try:
        names = []
        for round_ in range(10):
            names += _create(sqlite_site, 5, f"s3 {round_}")
            shipper.ship()
        point = dt.datetime.now(dt.timezone.utc)
        time.sleep(0.01)
        later = _create(sqlite_site, 5, "after the point")
        shipper.ship()
    finally:
        shipper.close()
    out = sqlite_site.path.parent
    result = restore_to_time(s3_replica, str(out / "latest"), None, None)
    assert set(names + later) <= _names(out / "latest" / "site.db")
    assert result["segments"] >= 10
    restore_to_time(s3_replica, str(out / "at-point"), point, None)
    at_point = _names(out / "at-point" / "site.db")
    assert set(names) <= at_point and not set(later) & at_point
    restored = json.loads((out / "latest" / "site_config.json").read_text())
    assert restored["encryption_key"] == sqlite_site.config["encryption_key"]


def test_a_failed_segment_write_is_written_again_under_the_same_number(sqlite_site):
    shipper = _shipper(sqlite_site)
    try:
        names = _create(sqlite_site, 3, "one")
        shipper.ship()
        blocker = sqlite_site.path / "replica" / "generations" / shipper.generation / "segments" / "00000002.seg"
        blocker.mkdir()   # the next segment cannot be written (as a full disk would refuse it)
        names += _create(sqlite_site, 3, "two")
        with pytest.raises(OSError):
            shipper.ship()
        blocker.rmdir()
        names += _create(sqlite_site, 3, "three")
        shipper.ship()
    finally:
        shipper.close()
    result = restore_to_time(str(sqlite_site.path / "replica"), str(sqlite_site.path.parent / "r"), None, None)
    assert result["stopped"] == "end of the replica" and result["segments"] == 2
    assert set(names) <= _names(sqlite_site.path.parent / "r" / "site.db")


def test_restore_to_time_through_the_cli(sqlite_site):
    before = _create(sqlite_site, 5, "cli before")
    run_cli("--site", str(sqlite_site.path), "replicate", "--once")
    time.sleep(0.05)
    point = dt.datetime.now(dt.timezone.utc)
    time.sleep(0.05)
    run_cli("--site", str(sqlite_site.path), "replicate", "--once")
    replica, out = sqlite_site.path / "replica", sqlite_site.path.parent
    # The second generation began after the point: the first one serves it.
    run_cli("restore", str(replica), str(out / "at-point"), "--to-time", point.isoformat())
    assert set(before) <= _names(out / "at-point" / "site.db")
    refused = run_cli("restore", str(replica), str(out / "too-early"), "--to-time", "2000-01-01T00:00:00",
                      check=False)
    assert refused.returncode == 1 and refused.stderr.startswith("Error: ") and "no generation" in refused.stderr
    assert "Traceback" not in refused.stderr
    bad = run_cli("restore", str(replica), str(out / "bad"), "--to-time", "yesterday", check=False)
    assert bad.returncode != 0 and "is not an ISO date and time" in bad.stderr


def test_an_s3_replica_is_reached_with_the_sites_s3_keys(sqlite_site, s3_config, monkeypatch):
    # No AWS_* environment: the endpoint, region and credentials come from site_config.json, as
    # the file storage's do.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    keys = {k: v for k, v in s3_config.items() if k != "file_storage"}
    configure_site(sqlite_site.path, **keys)
    replica = f"s3://{s3_config['s3_bucket']}/wal"
    shipper = Shipper(sqlite_site.db.path, replica, sqlite_site.path / "site_config.json").open()
    try:
        names = _create(sqlite_site, 4, "keys")
        shipper.ship()
    finally:
        shipper.close()
    assert any(key.startswith("wal/") for key in bucket_keys(s3_config))
    for name, value in {"AWS_ACCESS_KEY_ID": s3_config["s3_access_key_id"],
                        "AWS_SECRET_ACCESS_KEY": s3_config["s3_secret_access_key"],
                        "AWS_DEFAULT_REGION": s3_config["s3_region"],
                        "AWS_ENDPOINT_URL": s3_config["s3_endpoint_url"]}.items():
        monkeypatch.setenv(name, value)  # a restore elsewhere: the machine's own AWS settings
    restore_to_time(replica, str(sqlite_site.path.parent / "from-keys"), None, None)
    assert set(names) <= _names(sqlite_site.path.parent / "from-keys" / "site.db")


def test_serve_refuses_a_bad_shipping_interval_in_one_line(tmp_path):
    from tests.pg import free_port
    site_dir = make_site(tmp_path, "sqlite", None)
    configure_site(site_dir, wal_replica="replica", wal_replica_interval="soon")
    r = run_cli("--site", str(site_dir), "serve", "--port", str(free_port()), check=False)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "Error: wal_replica_interval in site_config.json must be a number of seconds above 0"


def _generations(root: Path) -> list[dict]:
    return json.loads((root / walformat.REPLICA_FILE).read_text())["generations"]


def _snapshot_due(shipper: Shipper) -> None:
    """As if ``snapshot_interval`` had passed since the current generation began."""
    shipper._generation_began -= shipper.snapshot_interval


def _three_generations(site: Site, shipper: Shipper) -> tuple[list[str], list[str]]:
    """Rows in three generations, each begun by the shipper's schedule; (all rows, the last ones)."""
    names: list[str] = []
    for round_ in range(3):
        last = _create(site, 4, f"generation {round_}")
        names += last
        assert shipper.step() > 0       # shipped into the generation of this round; not due yet
        _snapshot_due(shipper)
        assert shipper.step() == 0      # due: nothing left to ship, then a new generation
    return names, last


def test_generations_are_scheduled_and_deleted_once_outside_the_retention_window(sqlite_site):
    # Seconds here stand for the hours of the settings.
    shipper = _shipper(sqlite_site, snapshot_interval=24 * 3600, retention=3600)
    root = sqlite_site.path / "replica"
    try:
        names, _ = _three_generations(sqlite_site, shipper)
        gens = _generations(root)
        assert len(gens) == 4 and all(g["reason"].startswith("scheduled snapshot") for g in gens[1:])
        assert shipper.prune() == []    # all within an hour: everything kept
        # An hour after the third generation began, only what a restore inside the hour needs is
        # kept: the third (it restores to times up to the fourth's snapshot) and the fourth.
        dropped = shipper.prune(now=gens[2]["snapshot_time"] + 3600 + 0.001)
        assert dropped == [gens[0]["id"], gens[1]["id"]]
        assert [g["id"] for g in _generations(root)] == [gens[2]["id"], gens[3]["id"]]
        assert sorted(p.name for p in (root / "generations").iterdir()) == [gens[2]["id"], gens[3]["id"]]
        # The newest is never deleted, however old.
        assert shipper.prune(now=time.time() + 10 * 3600) == [gens[2]["id"]]
        assert [g["id"] for g in _generations(root)] == [gens[3]["id"]]
        more = _create(sqlite_site, 3, "after pruning")
        shipper.ship()
        shipper.begin_generation("numbered after the last, not by count")
    finally:
        shipper.close()
    assert _generations(root)[-1]["id"].startswith(f"{int(gens[3]['id'][:6]) + 1:06d}-")
    restore_to_time(str(root), str(sqlite_site.path.parent / "latest"), None, None)
    assert set(names + more) <= _names(sqlite_site.path.parent / "latest" / "site.db")
    with pytest.raises(WalRestoreError, match="no generation"):
        restore_to_time(str(root), str(sqlite_site.path.parent / "gone"),
                        dt.datetime.fromtimestamp(gens[2]["snapshot_time"], dt.timezone.utc), None)


def test_a_new_generation_deletes_what_fell_out_of_the_window_from_s3(sqlite_site, s3_replica):
    import boto3
    shipper = Shipper(sqlite_site.db.path, s3_replica, sqlite_site.path / "site_config.json",
                      snapshot_interval=24 * 3600, retention=0.5).open()
    try:
        _, last = _three_generations(sqlite_site, shipper)
        time.sleep(0.5)
        _snapshot_due(shipper)
        shipper.step()                  # a scheduled generation, then the ones before it are pruned
        kept = [g["id"] for g in shipper._meta["generations"]]
    finally:
        shipper.close()
    assert len(kept) == 2               # the newest, and the one it follows (begun > 0.5 s before it)
    keys = [o["Key"] for page in boto3.session.Session().client("s3").get_paginator("list_objects_v2")
            .paginate(Bucket="replicas", Prefix="site-a/generations/") for o in page.get("Contents", ())]
    assert keys and {k.split("/")[2] for k in keys} == set(kept)
    out = sqlite_site.path.parent / "from-s3"
    restore_to_time(s3_replica, str(out), None, None)
    assert set(last) <= _names(out / "site.db")


def test_failing_looks_are_logged_once_then_now_and_then(caplog, monkeypatch):
    from ristretto.backup import walship
    monkeypatch.setattr(walship, "FAILURE_LOG_SECONDS", 3600.0)
    failures = walship._Failures()
    with caplog.at_level("INFO", logger="ristretto"):
        for _ in range(5):
            try:
                raise OSError("No space left on device")
            except OSError as e:
                failures.failed(e)
        failures.succeeded()
        failures.succeeded()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0][0] == "ERROR" and "a look failed" in lines[0][1]
    assert lines[1][0] == "WARNING" and "works again" in lines[1][1] and "5 failed looks" in lines[1][1]
    monkeypatch.setattr(walship, "FAILURE_LOG_SECONDS", 0.0)
    caplog.clear()
    with caplog.at_level("INFO", logger="ristretto"):
        for _ in range(3):
            failures.failed(OSError("bucket unreachable"))
    assert [r.levelname for r in caplog.records] == ["ERROR", "ERROR", "ERROR"]
    assert "has failed for" in caplog.records[-1].getMessage()


@pytest.mark.parametrize("key", ["wal_replica_snapshot_interval", "wal_replica_retention"])
def test_serve_refuses_bad_replica_hours_in_one_line(tmp_path, key):
    from tests.pg import free_port
    site_dir = make_site(tmp_path, "sqlite", None)
    configure_site(site_dir, wal_replica="replica", **{key: -1})
    r = run_cli("--site", str(site_dir), "serve", "--port", str(free_port()), check=False)
    assert r.returncode != 0
    assert r.stderr.strip() == f"Error: {key} in site_config.json must be a number of hours above 0"
