"""Cold storage for archived documents: an S3 bucket. boto3 loads on first
use and reads AWS_ENDPOINT_URL_S3, so locally it talks to moto's server."""
from __future__ import annotations

import threading
from typing import Iterator

from .settings import ConfigurationError


class ArchiveStore:
    def __init__(self, bucket: str | None):
        self._bucket = bucket
        self._client = None
        self._lock = threading.Lock()

    def _s3(self):
        if not self._bucket:
            raise ConfigurationError("ARCHIVE_BUCKET is required to archive or restore")
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3

                    self._client = boto3.client("s3")
        return self._client

    def put(self, key: str, data: bytes, metadata: dict[str, str]) -> None:
        self._s3().put_object(Bucket=self._bucket, Key=key, Body=data, Metadata=metadata,
                              ContentType="application/x-ndjson", ContentEncoding="gzip")

    def get(self, key: str) -> tuple[bytes, dict[str, str]]:
        response = self._s3().get_object(Bucket=self._bucket, Key=key)
        return response["Body"].read(), response.get("Metadata", {})

    def keys(self, prefix: str) -> Iterator[str]:
        paginator = self._s3().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"]
