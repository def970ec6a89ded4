from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database


class CallbackDeliveryRepository:
    """The outbox of callbackUrl posts: written when a contact finishes,
    sent (and re-sent with backoff) by the scheduled sender."""

    def __init__(self, db: Database):
        self._deliveries = db["callback_deliveries"]

    def add(self, delivery: dict[str, Any]) -> None:
        self._deliveries.update_one({"_id": delivery["_id"]}, {"$setOnInsert": delivery}, upsert=True)

    def due_ids(self, *, now: datetime, limit: int) -> list[str]:
        cursor = self._deliveries.find({"status": "pending", "nextAttemptAt": {"$lte": now}}, {"_id": 1})
        return [d["_id"] for d in cursor.sort("nextAttemptAt", 1).limit(limit)]

    def claim(self, delivery_id: str, *, now: datetime, until: datetime) -> dict[str, Any] | None:
        """Take one due delivery for a send; pushing nextAttemptAt is the
        claim, so a concurrent sender skips it."""
        return self._deliveries.find_one_and_update(
            {"_id": delivery_id, "status": "pending", "nextAttemptAt": {"$lte": now}},
            {"$set": {"nextAttemptAt": until}, "$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER)

    def finish(self, delivery_id: str, fields: dict[str, Any]) -> None:
        self._deliveries.update_one({"_id": delivery_id}, {"$set": fields})

    def get(self, delivery_id: str) -> dict[str, Any] | None:
        return self._deliveries.find_one({"_id": delivery_id})

    def for_campaign(self, campaign_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        return list(self._deliveries.find({"campaignId": campaign_id}).sort("createdAt", -1).limit(limit))
