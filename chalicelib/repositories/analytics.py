from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database

from ..models.analytics import AnalyticsDocument, RollupState

STATE_ID = "rollups"


class AnalyticsRepository:
    """Analytics documents are written by idempotent upserts and never deleted."""

    def __init__(self, db: Database):
        self._analytics = db["analytics"]
        self._state = db["rollup_state"]

    def upsert(self, doc: AnalyticsDocument) -> None:
        """Replace the period's document, keeping when it was first created."""
        fields = doc.to_mongo()
        doc_id, created_at = fields.pop("_id"), fields.pop("createdAt")
        self._analytics.update_one({"_id": doc_id}, {"$set": fields, "$setOnInsert": {"createdAt": created_at}},
                                   upsert=True)

    def between(self, type_: str, start: datetime, end: datetime) -> list[AnalyticsDocument]:
        """Documents of `type_` whose period starts in [start, end), oldest first."""
        docs = self._analytics.find({"type": type_, "date": {"$gte": start, "$lt": end}}).sort("date", 1)
        return [AnalyticsDocument.from_mongo(d) for d in docs]

    def raw(self, doc_id: str) -> dict[str, Any] | None:
        return self._analytics.find_one({"_id": doc_id})

    def state(self) -> RollupState | None:
        doc = self._state.find_one({"_id": STATE_ID})
        return RollupState.from_mongo(doc) if doc else None

    def save_state(self, watermark: datetime, now: datetime) -> None:
        self._state.update_one({"_id": STATE_ID}, {"$set": {"watermark": watermark, "updatedAt": now},
                                                   "$setOnInsert": {"createdAt": now}}, upsert=True)
