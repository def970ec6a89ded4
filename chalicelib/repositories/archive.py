"""Reading, deleting and restoring the documents the archive moves to cold
storage, and their JSON Lines encoding (MongoDB Extended JSON, so dates and
other BSON types come back as they were)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from bson import json_util
from bson.json_util import JSONMode, JSONOptions
from pymongo import ReplaceOne
from pymongo.database import Database

# collection → the date field its age is judged by
ARCHIVED: dict[str, str] = {
    "calls": "createdAt",
    "call_events": "timestamp",
    "transcripts": "createdAt",
    "recordings": "createdAt",
}
JSON_OPTIONS = JSONOptions(json_mode=JSONMode.CANONICAL, tz_aware=True, tzinfo=timezone.utc)
BATCH = 1000


def encode_lines(docs: list[dict[str, Any]]) -> bytes:
    return b"".join(json_util.dumps(doc, json_options=JSON_OPTIONS).encode() + b"\n" for doc in docs)


def decode_lines(data: bytes) -> list[dict[str, Any]]:
    return [json_util.loads(line, json_options=JSON_OPTIONS) for line in data.splitlines() if line.strip()]


class ArchiveRepository:
    def __init__(self, db: Database):
        self._db = db

    def oldest(self, collection: str, before: datetime) -> datetime | None:
        """When the oldest document older than `before` was made (None: nothing to archive)."""
        field = ARCHIVED[collection]
        doc = self._db[collection].find_one({field: {"$lt": before}}, {field: 1}, sort=[(field, 1)])
        return doc[field] if doc else None

    def chunk(self, collection: str, start: datetime, end: datetime, limit: int) -> list[dict[str, Any]]:
        """The first `limit` documents made in [start, end), in `_id` order."""
        field = ARCHIVED[collection]
        return list(self._db[collection].find({field: {"$gte": start, "$lt": end}}).sort("_id", 1).limit(limit))

    def delete(self, collection: str, ids: list[Any]) -> int:
        deleted = 0
        for start in range(0, len(ids), BATCH):
            deleted += self._db[collection].delete_many({"_id": {"$in": ids[start:start + BATCH]}}).deleted_count
        return deleted

    def restore(self, collection: str, docs: list[dict[str, Any]]) -> int:
        """Put archived documents back (replacing any with the same id): safe to repeat."""
        for start in range(0, len(docs), BATCH):
            self._db[collection].bulk_write([ReplaceOne({"_id": d["_id"]}, d, upsert=True)
                                             for d in docs[start:start + BATCH]], ordered=False)
        return len(docs)
