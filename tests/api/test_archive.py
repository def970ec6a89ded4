"""Retention: export to S3 (moto), verify, delete, resume, restore."""
from __future__ import annotations

import gzip
import json
from datetime import timedelta

import boto3
import pytest
from moto import mock_aws

from chalicelib import clock
from chalicelib.archive_store import ArchiveStore
from chalicelib.models.call import Call, CallEvent
from chalicelib.repositories.archive import ArchiveRepository
from chalicelib.services.archive import ArchiveService, day_prefix

BUCKET = "outdial-archive-test"


@pytest.fixture
def s3(app_env):
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def service(db, **overrides) -> ArchiveService:
    options = {"chunk_size": 7, "retention_days": 180, "events_retention_days": 83, "time_budget_seconds": 60}
    return ArchiveService(ArchiveRepository(db), ArchiveStore(BUCKET), **{**options, **overrides})


@pytest.fixture
def old_data(db):
    """Calls 200 and 201 days old (archived), 10 days old (kept); events 85 days old (archived: TTL is 90)."""
    now = clock.now()
    calls, events = [], []
    for age, count in ((201, 9), (200, 12), (10, 5)):
        for n in range(count):
            created = now - timedelta(days=age, minutes=n)
            calls.append(Call(id=f"call_{age}_{n:02d}", created_at=created, updated_at=created, to="+14155552671",
                              agent_id="agt_a", metadata={"n": n, "nested": {"ok": True}}).to_mongo())
    for n in range(10):
        events.append(CallEvent(id=f"evt_{n:02d}", created_at=now - timedelta(days=85), call_id="call_200_00",
                                event_type="ringing", source="twilio", timestamp=now - timedelta(days=85, minutes=n),
                                data={"CallStatus": "ringing"}).to_mongo())
    db["calls"].insert_many(calls)
    db["call_events"].insert_many(events)
    db["transcripts"].insert_one({"_id": "trn_1", "callId": "call_201_00", "createdAt": now - timedelta(days=201),
                                  "analysis": {"keywords": ["x"]}})
    db["analytics"].insert_one({"_id": "daily:old", "type": "daily", "date": now - timedelta(days=400)})
    return calls, events


def objects(s3, prefix=""):
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
            if "zzz" not in o["Key"]]
    return {key: [json.loads(line) for line in gzip.decompress(
        s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()).splitlines()] for key in keys}


def test_old_documents_move_to_s3_partitioned_by_day_and_come_back(db, s3, old_data):
    calls, events = old_data
    report = service(db).run()
    assert report == {"archived": {"calls": 21, "call_events": 10, "transcripts": 1}, "complete": True}
    assert db["calls"].count_documents({}) == 5                      # the 10-day-old ones stay
    assert db["call_events"].count_documents({}) == 0
    assert db["analytics"].count_documents({}) == 1                  # never archived

    day = (clock.now() - timedelta(days=200)).date()
    stored = objects(s3, day_prefix("calls", day))
    assert all(key.startswith(f"calls/{day:%Y/%m/%d}/part-") and key.endswith(".jsonl.gz") for key in stored)
    assert len(stored) == 2                                          # 12 documents in chunks of 7
    assert sorted(line["_id"] for lines in stored.values() for line in lines) == \
        sorted(c["_id"] for c in calls if c["_id"].startswith("call_200_"))
    assert len(objects(s3, "call_events/")) == 2 and len(objects(s3, "transcripts/")) == 1

    restored = service(db).restore("calls", day, day)
    assert restored == 12
    originals = {c["_id"]: c for c in calls}
    for doc in db["calls"].find({"_id": {"$in": list(originals)}}):
        assert doc == originals[doc["_id"]]                          # dates, nesting and all
    # Restored documents are past retention again: the next run deletes them without a second copy.
    service(db).run()
    assert len(objects(s3, day_prefix("calls", day))) == 2
    assert db["calls"].count_documents({}) == 5


def test_an_interrupted_run_resumes_without_loss_or_duplicates(db, s3, old_data, monkeypatch):
    calls, _ = old_data
    archive = service(db)
    real_delete = ArchiveRepository.delete
    calls_seen = []

    def crash_on_second_delete(self, collection, ids):
        calls_seen.append(collection)
        if len(calls_seen) == 2:
            raise ConnectionError("lost the database after uploading")
        return real_delete(self, collection, ids)

    monkeypatch.setattr(ArchiveRepository, "delete", crash_on_second_delete)
    with pytest.raises(ConnectionError):
        archive.run()
    monkeypatch.setattr(ArchiveRepository, "delete", real_delete)
    # A stray corrupt object under a day's prefix is ignored, not trusted.
    day = (clock.now() - timedelta(days=201)).date()
    s3.put_object(Bucket=BUCKET, Key=f"{day_prefix('calls', day)}part-zzz.jsonl.gz", Body=b"not gzip")

    service(db).run()
    archived = [line["_id"] for lines in objects(s3, "calls/").values() for line in lines]
    old_ids = [c["_id"] for c in calls if not c["_id"].startswith("call_10_")]
    assert sorted(archived) == sorted(old_ids)                      # each exactly once
    assert db["calls"].count_documents({}) == 5


def test_a_run_out_of_time_stops_and_the_next_one_finishes(db, s3, old_data):
    partial = service(db, time_budget_seconds=0).run()
    assert partial["complete"] is False
    assert service(db).run()["complete"] is True
    assert db["calls"].count_documents({}) == 5


def test_events_are_archived_before_their_ttl_would_drop_them(db):
    from chalicelib.settings import Settings

    settings = Settings(mongodb_uri="mongodb://x")
    assert settings.call_events_retention_days == 83 < settings.call_events_ttl_days == 90
    ttl = [spec for spec in db["call_events"].index_information().values() if spec.get("expireAfterSeconds")]
    assert [spec["expireAfterSeconds"] for spec in ttl] == [90 * 24 * 3600]
