from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.database import Database

from ..models.schedule import ScheduledCall, ScheduleStatus
from .base import Page, newest_first_page

PENDING, PROCESSING = ScheduleStatus.PENDING.value, ScheduleStatus.PROCESSING.value


@dataclass(frozen=True)
class ScheduleFilter:
    status: str | None = None
    agent_id: str | None = None
    scheduled_from: datetime | None = None
    scheduled_to: datetime | None = None

    def to_query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if self.status:
            query["status"] = self.status
        if self.agent_id:
            query["agentId"] = self.agent_id
        window: dict[str, datetime] = {}
        if self.scheduled_from:
            window["$gte"] = self.scheduled_from
        if self.scheduled_to:
            window["$lt"] = self.scheduled_to
        if window:
            query["nextRun"] = window
        return query


class ScheduleRepository:
    def __init__(self, db: Database):
        self._schedules = db["scheduled_calls"]

    def insert(self, schedule: ScheduledCall) -> None:
        self._schedules.insert_one(schedule.to_mongo())

    def get(self, schedule_id: str) -> ScheduledCall | None:
        doc = self._schedules.find_one({"_id": schedule_id})
        return ScheduledCall.from_mongo(doc) if doc else None

    def list(self, filters: ScheduleFilter, *, limit: int, cursor: str | None) -> Page[ScheduledCall]:
        docs, next_cursor = newest_first_page(self._schedules, filters.to_query(), limit=limit, cursor=cursor)
        return Page([ScheduledCall.from_mongo(d) for d in docs], next_cursor)

    def due_ids(self, *, horizon: datetime, limit: int = 200) -> list[str]:
        """Pending schedules due by `horizon`, earliest first (candidates: each
        is then claimed on its own, and a concurrent run may win some)."""
        cursor = self._schedules.find({"status": PENDING, "nextRun": {"$lte": horizon}}, {"_id": 1})
        return [d["_id"] for d in cursor.sort("nextRun", 1).limit(limit)]

    def claim(self, schedule_id: str, *, horizon: datetime, now: datetime,
              lease_until: datetime) -> ScheduledCall | None:
        """pending -> processing with a lease, atomically: of overlapping runs
        exactly one gets it."""
        return self._claim({"_id": schedule_id, "status": PENDING, "nextRun": {"$lte": horizon}}, now, lease_until)

    def claim_expired(self, *, now: datetime, lease_until: datetime) -> ScheduledCall | None:
        """Take back a schedule whose run died while holding it."""
        return self._claim({"status": PROCESSING, "leaseUntil": {"$lt": now}}, now, lease_until)

    def _claim(self, query: dict, now: datetime, lease_until: datetime) -> ScheduledCall | None:
        doc = self._schedules.find_one_and_update(
            query, {"$set": {"status": PROCESSING, "leaseUntil": lease_until, "updatedAt": now}},
            sort=[("nextRun", 1)], return_document=True)
        return ScheduledCall.from_mongo(doc) if doc else None

    def advance(self, schedule_id: str, *, lease_until: datetime, next_run: datetime, occurrence: int,
                call_id: str, now: datetime) -> bool:
        """Release our claim, pointing the schedule at its next occurrence."""
        return self._release(schedule_id, lease_until, {
            "status": PENDING, "nextRun": next_run, "recurring.currentOccurrence": occurrence,
            "callId": call_id, "processedAt": now, "updatedAt": now})

    def finish(self, schedule_id: str, *, lease_until: datetime, status: ScheduleStatus, now: datetime,
               failure_reason: str | None = None) -> bool:
        fields: dict[str, Any] = {"status": status.value, "processedAt": now, "updatedAt": now}
        if failure_reason:
            fields.update(failedAt=now, failureReason=failure_reason)
        return self._release(schedule_id, lease_until, fields)

    def _release(self, schedule_id: str, lease_until: datetime, fields: dict[str, Any]) -> bool:
        # Only the holder of this exact lease may release it.
        result = self._schedules.update_one(
            {"_id": schedule_id, "status": PROCESSING, "leaseUntil": lease_until}, {"$set": fields})
        return result.modified_count == 1

    def update_pending(self, schedule_id: str, fields: dict[str, Any], *, now: datetime) -> ScheduledCall | None:
        doc = self._schedules.find_one_and_update(
            {"_id": schedule_id, "status": PENDING}, {"$set": {**fields, "updatedAt": now}}, return_document=True)
        return ScheduledCall.from_mongo(doc) if doc else None
