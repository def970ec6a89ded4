"""Analytics, retention and schema governance.

- `analytics` (seed 002: `{type, date}`) and `rollup_state`; the analytics
  documents are kept forever, so `down` drops their indexes, not the data;
- `calls.updatedAt`, which tells the roll-up which days changed;
- `api_keys.createdAt` and `scheduled_calls.nextRun`, which queries of earlier
  features lacked (found by the index-coverage test);
- the seed's TTL on `call_events.timestamp` (CALL_EVENTS_TTL_DAYS, 90);
- the indexes the archive and the roll-up read other features' collections by
  (transcripts by call and age, recordings by age, campaigns by completion),
  each created only if no index with the same key exists already;
- a `$jsonSchema` validator on every collection in models/registry.py.

Changing CALL_EVENTS_TTL_DAYS later needs `collMod` on the TTL index (or
`scripts/migrate.py down` and `up` of this migration).
"""
from __future__ import annotations

from pymongo import ASCENDING as ASC
from pymongo import DESCENDING as DESC
from pymongo import IndexModel
from pymongo.database import Database

from ..models.registry import COLLECTION_MODELS
from ..settings import get_settings
from .schema import create_collections, drop_indexes, ensure_indexes
from .validators import apply_validators, remove_validators

VERSION = 9
NAME = "analytics, retention, schema validators"

COLLECTIONS = {
    "analytics": [
        IndexModel([("type", ASC), ("date", DESC)], name="analytics_type_date"),
        IndexModel([("date", ASC)], name="analytics_date"),
    ],
    "rollup_state": [],
}
CALL_INDEXES = [IndexModel([("updatedAt", ASC)], name="calls_updatedAt")]
# Found by tests/schema/test_index_coverage.py: listing API keys (newest first) and
# scheduled calls by next run without a status filter scanned their collections.
COVERAGE_INDEXES = {
    "api_keys": [IndexModel([("createdAt", DESC)], name="api_keys_createdAt")],
    "scheduled_calls": [IndexModel([("nextRun", ASC)], name="scheduled_calls_nextRun")],
}
# Collections other features own: created here only if they do not exist yet.
SHARED_INDEXES = {
    "transcripts": [IndexModel([("callId", ASC)], name="transcripts_callId"),
                    IndexModel([("createdAt", ASC)], name="transcripts_createdAt")],
    "recordings": [IndexModel([("createdAt", ASC)], name="recordings_createdAt")],
    "campaigns": [IndexModel([("status", ASC), ("endedAt", ASC)], name="campaigns_status_endedAt")],
}
EVENTS_TTL_NAME = "call_events_timestamp_ttl"


def events_ttl() -> IndexModel:
    seconds = get_settings().call_events_ttl_days * 24 * 3600
    return IndexModel([("timestamp", ASC)], name=EVENTS_TTL_NAME, expireAfterSeconds=seconds)


def up(db: Database) -> None:
    create_collections(db, COLLECTIONS)
    db["calls"].create_indexes(CALL_INDEXES)
    for collection, indexes in COVERAGE_INDEXES.items():
        db[collection].create_indexes(indexes)
    db["call_events"].create_indexes([events_ttl()])
    for collection, indexes in SHARED_INDEXES.items():
        ensure_indexes(db, collection, indexes)
    apply_validators(db, COLLECTION_MODELS)


def down(db: Database) -> None:
    remove_validators(db, list(COLLECTION_MODELS))
    for collection, indexes in SHARED_INDEXES.items():
        drop_indexes(db, collection, indexes)
        drop_if_unused(db, collection)
    drop_indexes(db, "call_events", [events_ttl()])
    drop_indexes(db, "calls", CALL_INDEXES)
    for collection, indexes in COVERAGE_INDEXES.items():
        drop_indexes(db, collection, indexes)
    for collection, indexes in COLLECTIONS.items():
        drop_indexes(db, collection, indexes)
        drop_if_unused(db, collection)


def drop_if_unused(db: Database, collection: str) -> None:
    """Drop a collection `up` may have created, unless it holds documents or
    another migration's indexes (analytics documents are never thrown away)."""
    if collection in db.list_collection_names() and db[collection].find_one({}, {"_id": 1}) is None \
            and len(db[collection].index_information()) <= 1:
        db.drop_collection(collection)
