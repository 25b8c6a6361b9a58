"""Backups: consistent snapshots, continuous WAL shipping, and restores."""
