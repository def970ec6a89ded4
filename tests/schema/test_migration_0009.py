"""Migration 0009 up and down. Index names: the embedded server ignores
explicit names and cannot drop an index by one (tests/conformance:
test_drop_index_by_its_explicit_name), so what `down` removes is checked on a
real MongoDB only."""
import os

import pytest

from chalicelib import migrations

REAL_MONGODB = bool(os.environ.get("MONGODB_URI"))


def keys(db, collection):
    """Index keys as field names with ascending order (the embedded server reports every direction as 1)."""
    return {tuple((field, 1) for field, _ in spec["key"]) for spec in db[collection].index_information().values()}


def test_up_creates_the_indexes_the_analytics_and_archive_read_by(db):
    assert (("updatedAt", 1),) in keys(db, "calls")
    assert (("timestamp", 1),) in keys(db, "call_events")
    assert (("callId", 1),) in keys(db, "transcripts") and (("createdAt", 1),) in keys(db, "recordings")
    assert (("type", 1), ("date", 1)) in keys(db, "analytics")
    assert (("createdAt", 1),) in keys(db, "api_keys") and (("nextRun", 1),) in keys(db, "scheduled_calls")


def test_down_keeps_analytics_documents_and_up_again_applies(db):
    db["analytics"].insert_one({"_id": "daily:2026-01-01", "type": "daily"})
    assert migrations.down(db, target=8) == [9]
    assert db["analytics"].count_documents({}) == 1          # summary stats are kept forever
    assert migrations.up(db) == [9]
    assert (("updatedAt", 1),) in keys(db, "calls")


@pytest.mark.skipif(not REAL_MONGODB, reason="the embedded server cannot drop an index by its explicit name; "
                                             "set MONGODB_URI to a real MongoDB")
def test_down_removes_what_up_added_but_not_other_migrations_indexes(db):
    db["transcripts"].create_index([("recordingSid", 1)], name="transcripts_recordingSid")
    migrations.down(db, target=8)
    assert (("updatedAt", 1),) not in keys(db, "calls") and (("timestamp", 1),) not in keys(db, "call_events")
    assert (("recordingSid", 1),) in keys(db, "transcripts") and (("callId", 1),) not in keys(db, "transcripts")
    assert not {"rollup_state", "recordings", "campaigns"} & set(db.list_collection_names())
