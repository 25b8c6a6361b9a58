"""Databases: SQLite and PostgreSQL connections, schema sync and the list-query compiler."""
