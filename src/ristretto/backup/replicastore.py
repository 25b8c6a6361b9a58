"""Where a WAL replica is kept: a local folder, or an S3-compatible bucket (``s3://bucket/prefix``).

Both hold the same keys (``replica.json``, ``generations/<id>/base.db``, ...; see
:mod:`ristretto.backup.walformat`). A folder's files are written whole and fsynced (a temporary
name, then a rename); an object in a bucket is whole once ``PutObject`` has answered, which is
S3's own durability. The bucket is reached with boto3 (the optional extra ``ristretto[s3]``),
whose own configuration chain gives the credentials, the region and the endpoint of an
S3-compatible server (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``,
``AWS_ENDPOINT_URL``, or ``~/.aws``). Only a folder can be locked against a second shipper;
with a bucket, the lock beside the database is the only one.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path

from ristretto.durable import fsync_dir, write_atomic


class LocalStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock: int | None = None

    def __str__(self) -> str:
        return str(self.root)

    def lock(self) -> bool:
        """Take the replica's lock (False: another process ships to this folder)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "replica.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock = fd
        return True

    def close(self) -> None:
        if self._lock is not None:
            os.close(self._lock)   # closing the descriptor releases its flock
            self._lock = None

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)

    def scratch(self, key: str) -> Path:
        """A local file to write ``key``'s content to before :meth:`put_file`."""
        path = self.root / (key + ".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def put_file(self, key: str, path: Path) -> None:
        """Store the file at ``path`` (from :meth:`scratch`) as ``key``; the file is used up."""
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(path, self.root / key)
        fsync_dir((self.root / key).parent)

    def get(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def fetch(self, key: str, dest: Path) -> bool:
        try:
            shutil.copyfile(self.root / key, dest)
        except FileNotFoundError:
            return False
        return True

    def list(self, prefix: str) -> list[str]:
        """Keys under the folder ``prefix`` (no temporary files)."""
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return [prefix.rstrip("/") + "/" + p.name for p in folder.iterdir() if p.is_file()
                and not p.name.endswith(".tmp")]

    def newest(self, prefix: str) -> float | None:
        """When the newest file under the folder ``prefix`` was stored (epoch seconds), if any."""
        folder = self.root / prefix
        times = [p.stat().st_mtime for p in folder.iterdir() if p.is_file()
                 and not p.name.endswith(".tmp")] if folder.is_dir() else []
        return max(times, default=None)

    def delete_prefix(self, prefix: str) -> None:
        """Delete the folder ``prefix`` and all it holds."""
        folder = self.root / prefix
        if folder.is_dir():
            shutil.rmtree(folder)
            fsync_dir(folder.parent)


class S3Store:
    def __init__(self, url: str, config: dict | None = None):
        rest = url[len("s3://"):]
        self.bucket, _, prefix = rest.partition("/")
        if not self.bucket:
            raise ValueError(f"{url!r}: an S3 replica is s3://bucket or s3://bucket/prefix")
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        from ristretto.site.s3client import s3_client
        try:
            # The site's s3_* keys (endpoint, region, credentials) when given, else boto3's chain.
            self.client = s3_client(config or {}, connect_timeout=5, read_timeout=60,
                                    retries={"max_attempts": 3, "mode": "standard"})
        except ImportError:
            raise ValueError("an S3 replica needs boto3: pip install 'ristretto[s3]'") from None

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def lock(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def scratch(self, key: str) -> Path:
        fd, name = tempfile.mkstemp(prefix="ristretto-replica-", suffix=".tmp")
        os.close(fd)
        return Path(name)

    def put_file(self, key: str, path: Path) -> None:
        try:
            self.client.upload_file(str(path), self.bucket, self.prefix + key)
        finally:
            path.unlink(missing_ok=True)

    def get(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def fetch(self, key: str, dest: Path) -> bool:
        from botocore.exceptions import ClientError
        try:
            self.client.download_file(self.bucket, self.prefix + key, str(dest))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return False
            raise
        return True

    def list(self, prefix: str) -> list[str]:
        keys = []
        start = self.prefix + prefix.rstrip("/") + "/"
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
            keys.extend(obj["Key"][len(self.prefix):] for obj in page.get("Contents", ()))
        return keys

    def newest(self, prefix: str) -> float | None:
        """When the newest object under ``prefix`` was stored (epoch seconds), if any."""
        start = self.prefix + prefix.rstrip("/") + "/"
        times = [obj["LastModified"].timestamp()
                 for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
                 for obj in page.get("Contents", ())]
        return max(times, default=None)

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object under ``prefix`` (at most 1,000 a request, S3's limit)."""
        start = self.prefix + prefix.rstrip("/") + "/"
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
            objects = [{"Key": obj["Key"]} for obj in page.get("Contents", ())]
            if objects:
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise OSError(f"could not delete {first.get('Key')} from s3://{self.bucket}: "
                                  f"{first.get('Code')} {first.get('Message')}")


def open_store(location: str | os.PathLike, config: dict | None = None) -> LocalStore | S3Store:
    """The store of a replica location: ``s3://bucket/prefix`` (reached with the ``s3_*`` keys of
    ``config``, a site's configuration, when given), else a folder."""
    text = str(location)
    if text.startswith("s3://"):
        return S3Store(text, config)
    return LocalStore(Path(text))
