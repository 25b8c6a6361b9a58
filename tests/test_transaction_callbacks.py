"""File bytes follow the transaction: removed only when a delete commits (both backends)."""

from __future__ import annotations

from ristretto.api.app import App
from ristretto.model import document
from ristretto.site import Site


def test_file_bytes_are_removed_only_on_commit(site_dir):
    site = Site(site_dir)
    App(site)  # registers the File controller
    path = site.files_path(private=False) / "callback.txt"
    path.write_bytes(b"payload")
    try:
        with site.db.connect() as conn:
            site.registry.ensure_fresh(conn)
            ctx = site.context(conn)
            with conn.transaction():
                name = document.insert(ctx, "File", {"file_url": "/files/callback.txt"}).name
            conn.begin()
            document.delete(ctx, "File", name)
            assert path.exists() and ctx.on_commit  # removal waits for the outcome
            conn.rollback()
            ctx.run_callbacks(committed=False)
            assert path.exists() and document.exists(ctx, "File", name)
            conn.begin()
            document.delete(ctx, "File", name)
            conn.commit()
            ctx.run_callbacks(committed=True)
            assert not path.exists() and not document.exists(ctx, "File", name)
    finally:
        site.close()
