"""Collections and indexes for agents, calls and call events.

The call indexes are seed 000's CallLog indexes, renamed to the unified model
(phoneNumber -> to, exotelCallSid -> providerCallSid, metadata.campaignId ->
campaignId, metadata.batchId -> batchId), plus the two that keyset pagination
needs. Seed 000's single-field indexes on `direction` and `scheduledFor` are
left out: the compound indexes starting with those fields serve the same
queries.
"""
from __future__ import annotations

from pymongo import ASCENDING as ASC
from pymongo import DESCENDING as DESC
from pymongo import IndexModel
from pymongo.database import Database

from .schema import create_collections, drop_collections

VERSION = 1
NAME = "initial collections and indexes"

INDEXES: dict[str, list[IndexModel]] = {
    "agents": [
        IndexModel([("createdAt", DESC), ("_id", DESC)], name="agents_createdAt_id"),
    ],
    "calls": [
        IndexModel([("agentId", ASC)], name="calls_agentId"),
        IndexModel([("status", ASC)], name="calls_status"),
        IndexModel([("direction", ASC), ("status", ASC)], name="calls_direction_status"),
        IndexModel([("direction", ASC), ("status", ASC), ("createdAt", DESC)], name="calls_direction_status_createdAt"),
        IndexModel([("agentId", ASC), ("direction", ASC), ("createdAt", DESC)], name="calls_agentId_direction_createdAt"),
        IndexModel([("scheduledFor", ASC), ("status", ASC)], name="calls_scheduledFor_status"),
        IndexModel([("campaignId", ASC), ("status", ASC)], name="calls_campaignId_status"),
        IndexModel([("batchId", ASC), ("status", ASC)], name="calls_batchId_status"),
        IndexModel([("providerCallSid", ASC)], name="calls_providerCallSid_unique", unique=True, sparse=True),
        IndexModel([("to", ASC), ("createdAt", DESC)], name="calls_to_createdAt"),
        IndexModel([("retryOf", ASC)], name="calls_retryOf", sparse=True),
        IndexModel([("contactId", ASC), ("createdAt", DESC)], name="calls_contactId_createdAt", sparse=True),
        IndexModel([("direction", ASC), ("createdAt", DESC)], name="calls_direction_createdAt"),
        IndexModel([("createdAt", DESC), ("_id", DESC)], name="calls_createdAt_id"),
        IndexModel([("status", ASC), ("enqueuedAt", ASC)], name="calls_status_enqueuedAt"),
    ],
    "call_events": [
        IndexModel([("callId", ASC), ("timestamp", ASC)], name="call_events_callId_timestamp"),
        IndexModel([("providerCallSid", ASC)], name="call_events_providerCallSid", sparse=True),
    ],
    "idempotency_keys": [
        IndexModel([("createdAt", ASC)], name="idempotency_keys_ttl", expireAfterSeconds=24 * 3600),
    ],
}


def up(db: Database) -> None:
    create_collections(db, INDEXES)


def down(db: Database) -> None:
    drop_collections(db, INDEXES)
