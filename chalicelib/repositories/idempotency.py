from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError


@dataclass(frozen=True)
class IdempotencyRecord:
    key: str
    request_hash: str
    resource_id: str
    result: dict[str, Any] | None = None     # what the first request answered, for operations that keep it


class IdempotencyRepository:
    """Remembers which resource an Idempotency-Key created (kept 24 h by a TTL index)."""

    def __init__(self, db: Database):
        self._keys = db["idempotency_keys"]

    def reserve(self, key: str, *, request_hash: str, resource_id: str,
                now: datetime) -> IdempotencyRecord | None:
        """Claim `key` for a new resource. Returns None when the claim is new,
        else the record of whoever claimed it first."""
        for _ in range(3):
            try:
                self._keys.insert_one({"_id": key, "requestHash": request_hash,
                                       "resourceId": resource_id, "createdAt": now})
                return None
            except DuplicateKeyError:
                doc = self._keys.find_one({"_id": key})
                if doc is not None:
                    return IdempotencyRecord(doc["_id"], doc["requestHash"], doc["resourceId"], doc.get("result"))
                # it expired between the two statements: try to take it again
        raise RuntimeError(f"idempotency key {key!r} keeps changing")

    def save_result(self, key: str, result: dict[str, Any]) -> None:
        self._keys.update_one({"_id": key}, {"$set": {"result": result}})
