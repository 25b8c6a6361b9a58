"""An S3-compatible server on loopback for the file storage tests: moto in server mode.

``s3_server`` (one per test session) runs moto's ``ThreadedMotoServer`` on a free loopback port
and stops it afterwards; ``s3_config`` gives a fresh bucket on it as ``site_config.json`` keys.
"""

from __future__ import annotations

import functools
import secrets

import pytest

from tests.pg import free_port

ACCESS_KEY, SECRET_KEY, REGION = "testing-key", "testing-secret", "us-east-1"


@pytest.fixture(scope="session")
def s3_server():
    moto_server = pytest.importorskip("moto.moto_server.threaded_moto_server")
    pytest.importorskip("boto3")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@functools.lru_cache(maxsize=None)
def s3_client(endpoint: str):
    """A client of the moto server (made once: making one costs a good part of a second)."""
    import boto3
    return boto3.session.Session().client("s3", endpoint_url=endpoint, region_name=REGION,
                                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


@pytest.fixture
def s3_config(s3_server) -> dict:
    """site_config.json keys of S3 storage in a new bucket (under a prefix, as a shared bucket would be)."""
    bucket = f"files-{secrets.token_hex(6)}"
    s3_client(s3_server).create_bucket(Bucket=bucket)
    return {"file_storage": "s3", "s3_bucket": bucket, "s3_prefix": "site-a", "s3_endpoint_url": s3_server,
            "s3_region": REGION, "s3_access_key_id": ACCESS_KEY, "s3_secret_access_key": SECRET_KEY}


def bucket_keys(config: dict) -> set[str]:
    """Every key in the bucket of ``config``."""
    client = s3_client(config["s3_endpoint_url"])
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=config["s3_bucket"]):
        keys.update(obj["Key"] for obj in page.get("Contents", ()))
    return keys
