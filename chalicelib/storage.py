"""Conversation audio in S3. boto3 loads on first use and reads
AWS_ENDPOINT_URL_S3, so locally it talks to moto's server."""
from __future__ import annotations

import threading


class StorageUnavailable(RuntimeError):
    pass


class RecordingStore:
    def __init__(self, bucket: str):
        self.bucket = bucket
        self._client = None
        self._lock = threading.Lock()

    def _s3(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3
                    from botocore.config import Config

                    self._client = boto3.client("s3", config=Config(
                        connect_timeout=2, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"}))
        return self._client

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Idempotent: the same key always receives the same audio."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._s3().put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"cannot store s3://{self.bucket}/{key}: {exc}") from exc

    def download_url(self, key: str, *, expires_in: int = 900) -> str:
        """A short-lived link to the audio (signed locally, no request made)."""
        return self._s3().generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                 ExpiresIn=expires_in)
