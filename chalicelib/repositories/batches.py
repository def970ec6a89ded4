from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ..models.batch import Batch, BatchStatus


class BatchRepository:
    """`batches`, and `batch_chunks`: the recipients of a batch in slices of
    CHUNK, each fanned out (turned into calls) by one queue message."""

    def __init__(self, db: Database):
        self._batches = db["batches"]
        self._chunks = db["batch_chunks"]

    def insert(self, batch: Batch) -> bool:
        try:
            self._batches.insert_one(batch.to_mongo())
            return True
        except DuplicateKeyError:
            return False

    def get(self, batch_id: str) -> Batch | None:
        doc = self._batches.find_one({"_id": batch_id})
        return Batch.from_mongo(doc) if doc else None

    def status_of(self, batch_id: str) -> str | None:
        doc = self._batches.find_one({"_id": batch_id}, {"status": 1})
        return doc["status"] if doc else None

    def transition(self, batch_id: str, *, to: BatchStatus, allowed_from: Iterable[BatchStatus],
                   fields: dict[str, Any] | None = None, now: datetime) -> Batch | None:
        doc = self._batches.find_one_and_update(
            {"_id": batch_id, "status": {"$in": [s.value for s in allowed_from]}},
            {"$set": {**(fields or {}), "status": to.value, "updatedAt": now}}, return_document=True)
        return Batch.from_mongo(doc) if doc else None

    # -- fan-out chunks

    def insert_chunks(self, chunks: list[dict]) -> None:
        """Store the chunks (ids are deterministic: a retried request rewrites nothing)."""
        try:
            self._chunks.insert_many(chunks, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    def get_chunk(self, chunk_id: str) -> dict | None:
        return self._chunks.find_one({"_id": chunk_id})

    def mark_chunk(self, chunk_id: str, *, done: bool | None = None, enqueued_at: datetime | None = None) -> None:
        fields: dict[str, Any] = {}
        if done is not None:
            fields["done"] = done
        if enqueued_at is not None:
            fields["enqueuedAt"] = enqueued_at
        self._chunks.update_one({"_id": chunk_id}, {"$set": fields})

    def claim_stale_chunk(self, *, enqueued_before: datetime, now: datetime) -> str | None:
        """A chunk whose message was sent long ago (or never) but which is not
        fanned out: take it for re-sending (one sweep, not two)."""
        doc = self._chunks.find_one_and_update({"done": False, "enqueuedAt": {"$lt": enqueued_before}},
                                               {"$set": {"enqueuedAt": now}}, projection={"_id": 1})
        return doc["_id"] if doc else None

    def chunks_pending(self, batch_id: str) -> int:
        return self._chunks.count_documents({"batchId": batch_id, "done": False})
