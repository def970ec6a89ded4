"""Scheduled calls and retry attempts (seed 000 ScheduledCall and RetryAttempt
indexes), and the index the dispatcher claims due calls with."""
from __future__ import annotations

from pymongo import ASCENDING as ASC
from pymongo import DESCENDING as DESC
from pymongo import IndexModel
from pymongo.database import Database

from .schema import create_schema, drop_schema

VERSION = 2
NAME = "scheduled calls, retry attempts, dispatch"

NEW_COLLECTIONS: dict[str, list[IndexModel]] = {
    "scheduled_calls": [
        IndexModel([("callId", ASC)], name="scheduled_calls_callId"),
        IndexModel([("scheduledFor", ASC), ("status", ASC)], name="scheduled_calls_scheduledFor_status"),
        IndexModel([("status", ASC), ("scheduledFor", ASC)], name="scheduled_calls_status_scheduledFor"),
        IndexModel([("agentId", ASC), ("scheduledFor", ASC)], name="scheduled_calls_agentId_scheduledFor"),
        IndexModel([("status", ASC), ("createdAt", DESC)], name="scheduled_calls_status_createdAt"),
        # the scheduler's claims, and listing
        IndexModel([("status", ASC), ("nextRun", ASC)], name="scheduled_calls_status_nextRun"),
        IndexModel([("status", ASC), ("leaseUntil", ASC)], name="scheduled_calls_status_leaseUntil"),
        IndexModel([("createdAt", DESC), ("_id", DESC)], name="scheduled_calls_createdAt_id"),
    ],
    "retry_attempts": [
        IndexModel([("originalCallId", ASC), ("attemptNumber", ASC)], name="retry_attempts_original_attempt",
                   unique=True),
        IndexModel([("scheduledFor", ASC), ("status", ASC)], name="retry_attempts_scheduledFor_status"),
        IndexModel([("status", ASC), ("scheduledFor", ASC)], name="retry_attempts_status_scheduledFor"),
        IndexModel([("retryCallId", ASC)], name="retry_attempts_retryCallId", sparse=True),
        IndexModel([("status", ASC), ("leaseUntil", ASC)], name="retry_attempts_status_leaseUntil"),
    ],
}
CALL_INDEXES = [IndexModel([("dispatchPending", ASC), ("scheduledFor", ASC)], name="calls_dispatchPending_scheduledFor")]


def up(db: Database) -> None:
    create_schema(db, NEW_COLLECTIONS, {"calls": CALL_INDEXES})


def down(db: Database) -> None:
    drop_schema(db, NEW_COLLECTIONS, {"calls": CALL_INDEXES})
