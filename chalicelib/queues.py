"""The SQS dial queue. boto3 loads on first send (it costs ~150 ms of cold
start), and reads AWS_ENDPOINT_URL_SQS, so locally it talks to moto's server."""
from __future__ import annotations

import json
import threading

# The queue's name is fixed: Chalice reads it at import when it packages the
# app, and the consumer cannot follow an environment variable. Stages are kept
# apart by deploying them to separate AWS accounts. DIAL_QUEUE_URL (set by the
# deployment template) saves a GetQueueUrl call per container.
DIAL_QUEUE = "outdial-dial"


class QueueUnavailable(RuntimeError):
    pass


class DialQueue:
    def __init__(self, *, queue_name: str = DIAL_QUEUE, queue_url: str | None = None):
        self._queue_name = queue_name
        self._queue_url = queue_url
        self._client = None
        self._lock = threading.Lock()

    def _sqs(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3
                    from botocore.config import Config

                    # Fail fast: an API request must answer well inside API
                    # Gateway's 29 s, and a stored call is swept up anyway.
                    self._client = boto3.client("sqs", config=Config(
                        connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"}))
        return self._client

    def _url(self) -> str:
        if self._queue_url is None:
            self._queue_url = self._sqs().get_queue_url(QueueName=self._queue_name)["QueueUrl"]
        return self._queue_url

    def send(self, call_id: str, *, delay_seconds: int = 0) -> None:
        self._send_one({"callId": call_id}, delay_seconds)

    def send_chunk(self, chunk_id: str) -> None:
        """A batch fan-out message: turn one chunk of recipients into calls."""
        self._send_one({"batchChunk": chunk_id}, 0)

    def _send_one(self, body: dict, delay_seconds: int) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._sqs().send_message(
                QueueUrl=self._url(),
                MessageBody=json.dumps(body),
                DelaySeconds=max(0, min(900, delay_seconds)),
            )
        except (BotoCoreError, ClientError) as exc:
            raise QueueUnavailable(f"cannot enqueue {body}: {exc}") from exc


    def send_many(self, messages: list[tuple[str, int]]) -> list[str]:
        """Send (call id, delay) pairs, ten per request. Returns the call ids
        that could not be sent (the caller puts them back to wait)."""
        from botocore.exceptions import BotoCoreError, ClientError

        failed: list[str] = []
        for start in range(0, len(messages), 10):
            chunk = messages[start:start + 10]
            entries = [{"Id": str(n), "MessageBody": json.dumps({"callId": call_id}),
                        "DelaySeconds": max(0, min(900, delay))} for n, (call_id, delay) in enumerate(chunk)]
            try:
                result = self._sqs().send_message_batch(QueueUrl=self._url(), Entries=entries)
            except (BotoCoreError, ClientError):
                failed += [call_id for call_id, _ in chunk]
                continue
            failed += [chunk[int(item["Id"])][0] for item in result.get("Failed", [])]
        return failed


def parse_message(body: str) -> tuple[str, str]:
    """(kind, id) of a message on the dial queue: ("call", call id) to dial a
    call, ("batchChunk", chunk id) to fan a batch chunk out into calls;
    ValueError for anything else (a poison message)."""
    message = json.loads(body)
    if isinstance(message, dict) and isinstance(message.get("batchChunk"), str) and message["batchChunk"]:
        return "batchChunk", message["batchChunk"]
    return "call", parse_dial_message(body)


def parse_dial_message(body: str) -> str:
    """The call id in a dial message; ValueError for anything else (a poison message)."""
    message = json.loads(body)
    call_id = message.get("callId") if isinstance(message, dict) else None
    if not isinstance(call_id, str) or not call_id:
        raise ValueError(f"dial message without a callId: {body[:200]!r}")
    return call_id
