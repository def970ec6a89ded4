from __future__ import annotations

from datetime import datetime

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from ..models.retry import RetryAttempt, RetryStatus

PENDING, PROCESSING = RetryStatus.PENDING.value, RetryStatus.PROCESSING.value


class RetryRepository:
    def __init__(self, db: Database):
        self._attempts = db["retry_attempts"]

    def insert(self, attempt: RetryAttempt) -> bool:
        """False when this attempt number of this call already exists (the
        unique index makes a duplicated callback harmless)."""
        try:
            self._attempts.insert_one(attempt.to_mongo())
            return True
        except DuplicateKeyError:
            return False

    def get(self, attempt_id: str) -> RetryAttempt | None:
        doc = self._attempts.find_one({"_id": attempt_id})
        return RetryAttempt.from_mongo(doc) if doc else None

    def for_call(self, original_call_id: str) -> list[RetryAttempt]:
        docs = self._attempts.find({"originalCallId": original_call_id}).sort("attemptNumber", 1)
        return [RetryAttempt.from_mongo(d) for d in docs]

    def due_ids(self, *, horizon: datetime, limit: int = 200) -> list[str]:
        cursor = self._attempts.find({"status": PENDING, "scheduledFor": {"$lte": horizon}}, {"_id": 1})
        return [d["_id"] for d in cursor.sort("scheduledFor", 1).limit(limit)]

    def claim_expired(self, *, now: datetime, lease_until: datetime) -> RetryAttempt | None:
        return self._claim({"status": PROCESSING, "leaseUntil": {"$lt": now}}, now, lease_until)

    def claim(self, attempt_id: str, *, now: datetime, lease_until: datetime,
              horizon: datetime | None = None) -> RetryAttempt | None:
        query: dict = {"_id": attempt_id, "status": PENDING}
        if horizon is not None:
            query["scheduledFor"] = {"$lte": horizon}
        return self._claim(query, now, lease_until)

    def _claim(self, query: dict, now: datetime, lease_until: datetime) -> RetryAttempt | None:
        doc = self._attempts.find_one_and_update(
            query, {"$set": {"status": PROCESSING, "leaseUntil": lease_until, "updatedAt": now}},
            sort=[("scheduledFor", 1)], return_document=True)
        return RetryAttempt.from_mongo(doc) if doc else None

    def complete(self, attempt_id: str, *, lease_until: datetime, retry_call_id: str, now: datetime) -> bool:
        result = self._attempts.update_one(
            {"_id": attempt_id, "status": PROCESSING, "leaseUntil": lease_until},
            {"$set": {"status": RetryStatus.COMPLETED.value, "retryCallId": retry_call_id, "processedAt": now,
                      "updatedAt": now}})
        return result.modified_count == 1

    def cancel_pending_many(self, original_call_ids: list[str], *, now: datetime) -> int:
        result = self._attempts.update_many(
            {"originalCallId": {"$in": original_call_ids}, "status": PENDING},
            {"$set": {"status": RetryStatus.CANCELLED.value, "processedAt": now, "updatedAt": now}})
        return result.modified_count

    def any_pending(self, original_call_ids: list[str]) -> bool:
        return self._attempts.count_documents(
            {"originalCallId": {"$in": original_call_ids}, "status": {"$in": [PENDING, PROCESSING]}}, limit=1) > 0

    def cancel_pending(self, original_call_id: str, *, now: datetime) -> int:
        result = self._attempts.update_many(
            {"originalCallId": original_call_id, "status": PENDING},
            {"$set": {"status": RetryStatus.CANCELLED.value, "processedAt": now, "updatedAt": now}})
        return result.modified_count
