from __future__ import annotations

from datetime import datetime

from pymongo.database import Database

from ..models.api_key import ApiKey


class ApiKeyRepository:
    def __init__(self, db: Database):
        self._keys = db["api_keys"]

    def insert(self, key: ApiKey) -> None:
        self._keys.insert_one(key.to_mongo())

    def find_by_hash(self, key_hash: str) -> ApiKey | None:
        doc = self._keys.find_one({"keyHash": key_hash})
        return ApiKey.from_mongo(doc) if doc else None

    def list(self) -> list[ApiKey]:
        return [ApiKey.from_mongo(d) for d in self._keys.find().sort("createdAt", 1)]

    def touch(self, key_id: str, *, now: datetime, if_before: datetime) -> None:
        """Record use, at most once per interval (no write on every request)."""
        self._keys.update_one({"_id": key_id, "lastUsedAt": {"$lt": if_before}}, {"$set": {"lastUsedAt": now}})

    def revoke(self, key_id: str, *, now: datetime) -> bool:
        return self._keys.update_one({"_id": key_id, "revokedAt": {"$exists": False}},
                                     {"$set": {"revokedAt": now, "updatedAt": now}}).modified_count == 1
