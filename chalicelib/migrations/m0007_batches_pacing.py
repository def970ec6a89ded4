"""Batch calls, and the shared pacing state (calls per second, concurrency
slots). The seed's batch-progress index (`{batchId, status}` on calls) exists
since migration 0001."""
from __future__ import annotations

from pymongo import ASCENDING as ASC
from pymongo import DESCENDING as DESC
from pymongo import IndexModel
from pymongo.database import Database

from .schema import create_schema, drop_schema

VERSION = 7
NAME = "batches, pacing and concurrency slots"

NEW_COLLECTIONS: dict[str, list[IndexModel]] = {
    "batches": [
        IndexModel([("createdAt", DESC), ("_id", DESC)], name="batches_createdAt_id"),
        IndexModel([("status", ASC), ("createdAt", DESC)], name="batches_status_createdAt"),
    ],
    "batch_chunks": [
        IndexModel([("batchId", ASC), ("done", ASC)], name="batch_chunks_batchId_done"),
        IndexModel([("done", ASC), ("enqueuedAt", ASC)], name="batch_chunks_done_enqueuedAt"),
    ],
    # one document per limited scope (`account`): its recent dial instants
    "rate_limits": [],
    "concurrency_slots": [
        IndexModel([("scope", ASC), ("busy", ASC), ("index", ASC)], name="concurrency_slots_scope_busy_index"),
        IndexModel([("scope", ASC), ("holder", ASC)], name="concurrency_slots_scope_holder"),
        IndexModel([("busy", ASC), ("expiresAt", ASC)], name="concurrency_slots_busy_expiresAt"),
    ],
}
CALL_INDEXES = [
    # waking the longest-waiting call of a scope when a slot frees up
    IndexModel([("concurrencyKey", ASC), ("waitingForSlot", ASC), ("waitingSince", ASC)],
               name="calls_concurrencyKey_waiting_since", sparse=True),
]


def up(db: Database) -> None:
    create_schema(db, NEW_COLLECTIONS, {"calls": CALL_INDEXES})


def down(db: Database) -> None:
    drop_schema(db, NEW_COLLECTIONS, {"calls": CALL_INDEXES})
