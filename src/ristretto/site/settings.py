"""Every key of ``site_config.json`` the server reads, declared once.

The README's "Site configuration" table documents the same keys; a test
(``tests/unit/test_settings.py``) fails when a key is read by the code but not
declared here, or declared here but missing from the README. Code reads a value
with ``setting(config, "name")``, which falls back to the declared default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    doc: str


SETTINGS: tuple[Setting, ...] = (
    Setting("db_url", None, "database URL; SQLite file site.db in the site folder when absent"),
    Setting("redis_url", None, "Redis of several app servers: login throttle counters, change stream wake-ups"),
    Setting("session_expiry", "240:00:00", "sliding session lifetime, HH:MM[:SS]"),
    Setting("allow_consecutive_login_attempts", 10, "failed logins before a lock (0: off)"),
    Setting("allow_login_after_fail", 300, "lock duration in seconds"),
    Setting("max_file_size", 25 * 1024 * 1024, "largest request body and uploaded file, in bytes"),
    Setting("allow_guests_to_upload_files", False, "let Guest call upload_file"),
    Setting("apply_strict_user_permissions", False, "User Permissions also hide documents whose Link is empty"),
    Setting("allow_error_traceback", True, "tracebacks in error bodies for Administrator and System Managers"),
    Setting("ignore_csrf", False, "skip the CSRF check of sessions holding a CSRF token"),
    Setting("query_timeout", 20, "seconds a request's query may run before it is cancelled (0: no limit)"),
    Setting("max_page_length", None, "ceiling on rows per listing, limit_page_length=0 included (clamped)"),
    Setting("threaded_requests", None, "run request handlers in a thread pool"),
    Setting("group_commit", True, "SQLite: the write requests a worker handles in one turn of its event loop "
                                  "share one commit, each in a savepoint of its own (false: one commit each)"),
    Setting("max_batch_requests", 100, "most requests (steps) one POST /api/v2/batch may hold"),
    Setting("openapi", True, "serve /api/openapi.json and the docs page /api/docs (false: 404)"),
    Setting("allow_cors", None, 'origins whose pages may call the API with credentials (CORS): "*", '
                                'one origin or a list; listed ones (not "*") may also write with a cookie session'),
    Setting("trusted_proxies", (), "reverse proxies whose X-Forwarded-* headers are believed"),
    Setting("time_zone", None, "the site's time zone (frappe.client.get_time_zone); the server's when absent"),
    Setting("encryption_key", None, "Fernet key of the values of Password fields (made by new-site / migrate)"),
    Setting("change_log_retention_days", 30, "days changes stay in the change log (delta sync, stream replay, "
                                             "webhooks); 0 keeps them forever"),
    Setting("webhook_log_retention_days", 30, "days Webhook Request Log rows are kept; 0 keeps them forever"),
    Setting("housekeeping_interval", 3600, "seconds between two prunings by a server worker of what grows "
                                           "without end (old changes and webhook logs, expired sessions and "
                                           "OAuth tokens); each worker also prunes when it starts"),
    Setting("count_cache_seconds", 60, "seconds a worker keeps a whole DocType's count, moved by the change log, "
                                       "before counting again (0: count every time)"),
    Setting("change_stream_max_open", 100, "live change streams (/api/v2/stream) one worker keeps open; 503 beyond"),
    Setting("change_stream_max_seconds", 3600, "seconds a live change stream stays open before it ends (clients "
                                               "reconnect with Last-Event-ID)"),
    Setting("webhook_poll_interval", 5, "seconds between two looks of a worker at the webhook queue (a commit "
                                        "that queues a delivery wakes its own worker at once)"),
    Setting("webhook_retry_backoff", 10, "seconds before the second attempt of a failed webhook delivery; "
                                         "doubled for each further attempt"),
    Setting("webhook_max_attempts", 5, "attempts of a webhook delivery before it is given up"),
    Setting("webhook_lease_seconds", 30, "seconds a claimed webhook delivery stays claimed beyond its request "
                                         "timeout; a delivery cut short by a crash is retried after this"),
    Setting("file_storage", "local", 'where File bytes live: "local" (the site folder) or "s3" (a bucket)'),
    Setting("s3_bucket", None, 'file_storage "s3": the bucket'),
    Setting("s3_prefix", "", 'file_storage "s3": a key prefix (folder) inside the bucket'),
    Setting("s3_endpoint_url", None, 'file_storage "s3": endpoint of an S3-compatible service (AWS when absent)'),
    Setting("s3_region", None, 'file_storage "s3": region (boto3\'s default when absent)'),
    Setting("s3_access_key_id", None, 'file_storage "s3": access key (else the AWS_* environment, ~/.aws, a role)'),
    Setting("s3_secret_access_key", None, 'file_storage "s3": secret key going with s3_access_key_id'),
    Setting("wal_replica", None, "SQLite: folder (relative to the site folder) or s3://bucket/prefix the WAL is "
                                 "shipped to as it is written (continuous backup); restore with ristretto restore --to-time"),
    Setting("wal_replica_interval", 1.0, "seconds between two looks of the WAL shipper (a commit is in the "
                                         "replica about this long after it is acknowledged)"),
    Setting("wal_replica_snapshot_interval", 24, "hours after which the WAL shipper begins a new generation "
                                                 "(a fresh snapshot of the database)"),
    Setting("wal_replica_retention", 168, "hours of history the WAL replica keeps: a generation is deleted "
                                          "once the one after it began longer ago than this"),
    Setting("apps", (), "apps to load"),
    Setting("app_paths", (), "folders put on sys.path before the apps are imported"),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def setting(config: dict[str, Any], name: str) -> Any:
    """The configured value of a declared setting, or its default."""
    declared = BY_NAME[name]
    value = config.get(name)
    return declared.default if value is None else value
