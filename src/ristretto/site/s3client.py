"""The S3 client of a site, made from its ``s3_*`` keys: one place reads them for everything that
reaches S3-compatible storage (the file storage, continuous backup's WAL replica, ``doctor``).

Keys left out fall back to boto3's own chain (``AWS_*`` environment, ``~/.aws``, an instance
role). boto3 is the optional extra ``ristretto[s3]``; without it this raises ``ImportError``.
"""

from __future__ import annotations

from typing import Any

from ristretto.site.settings import setting


def s3_client(config: dict[str, Any], **options: Any) -> Any:
    """A boto3 S3 client for ``config`` (a site's configuration); ``options`` go to botocore's
    ``Config`` (timeouts, retries, pool size)."""
    import boto3
    from botocore.config import Config
    return boto3.session.Session().client(
        "s3", endpoint_url=setting(config, "s3_endpoint_url") or None,
        region_name=setting(config, "s3_region") or None,
        aws_access_key_id=setting(config, "s3_access_key_id") or None,
        aws_secret_access_key=setting(config, "s3_secret_access_key") or None,
        config=Config(**options))
