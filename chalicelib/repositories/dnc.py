from __future__ import annotations

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from ..models.dnc import DncEntry
from .base import Page, newest_first_page


class DncRepository:
    def __init__(self, db: Database):
        self._dnc = db["dnc"]

    def add(self, entry: DncEntry) -> bool:
        """False when the number was already listed."""
        try:
            self._dnc.insert_one(entry.to_mongo())
            return True
        except DuplicateKeyError:
            return False

    def add_many(self, entries: list[DncEntry]) -> int:
        """Insert what is new; returns how many were."""
        if not entries:
            return 0
        existing = {d["_id"] for d in self._dnc.find({"_id": {"$in": [e.id for e in entries]}}, {"_id": 1})}
        fresh = [e.to_mongo() for e in entries if e.id not in existing]
        added = 0
        for start in range(0, len(fresh), 1000):
            try:
                added += len(self._dnc.insert_many(fresh[start:start + 1000], ordered=False).inserted_ids)
            except Exception as exc:   # a concurrent import added some: count what went in
                added += getattr(exc, "details", {}).get("nInserted", 0)
        return added

    def get(self, phone: str) -> DncEntry | None:
        doc = self._dnc.find_one({"_id": phone})
        return DncEntry.from_mongo(doc) if doc else None

    def contains(self, phone: str) -> bool:
        return self._dnc.count_documents({"_id": phone}, limit=1) > 0

    def listed(self, phones: list[str]) -> set[str]:
        """Which of `phones` are on the list (one query per 1,000)."""
        found: set[str] = set()
        for start in range(0, len(phones), 1000):
            found.update(d["_id"] for d in self._dnc.find({"_id": {"$in": phones[start:start + 1000]}}, {"_id": 1},
                                                          batch_size=1000))
        return found

    def remove(self, phone: str) -> bool:
        return self._dnc.delete_one({"_id": phone}).deleted_count == 1

    def list(self, *, limit: int, cursor: str | None) -> Page[DncEntry]:
        docs, next_cursor = newest_first_page(self._dnc, {}, limit=limit, cursor=cursor)
        return Page([DncEntry.from_mongo(d) for d in docs], next_cursor)
