"""Every MongoDB operation the repositories rely on, run against whatever
server the suite uses (the embedded nx-27017, or MONGODB_URI). A divergence
between the embedded server and MongoDB shows up here first."""
from __future__ import annotations

import os
import threading
from datetime import timedelta

import pytest
from pymongo.errors import DuplicateKeyError

from chalicelib.clock import EPOCH, now
from chalicelib.repositories.base import and_, newest_first_page


def test_string_ids_and_duplicate_key(db):
    db.things.insert_one({"_id": "thing_1", "n": 1})
    assert db.things.find_one({"_id": "thing_1"})["n"] == 1
    with pytest.raises(DuplicateKeyError):
        db.things.insert_one({"_id": "thing_1"})
    assert db.things.count_documents({"_id": {"$in": ["thing_1", "thing_2"]}}) == 1


def test_datetimes_written_by_update_operators_stay_dates(db):
    t = now()
    db.things.insert_one({"_id": "a", "at": EPOCH})
    db.things.update_one({"_id": "a"}, {"$set": {"at": t, "nested": {"at": t}}, "$min": {"first": t},
                                        "$push": {"history": {"at": t}}})
    doc = db.things.find_one({"_id": "a"})
    assert doc["at"] == t and doc["nested"]["at"] == t and doc["first"] == t
    assert doc["history"] == [{"at": t}]
    assert db.things.count_documents({"at": {"$lt": t + timedelta(seconds=1)}}) == 1
    assert db.things.count_documents({"at": {"$gt": t}}) == 0


def test_conditional_claim_shape(db):
    t = now()
    db.calls.insert_many([
        {"_id": "free", "status": "initiated", "dialLeaseUntil": EPOCH},
        {"_id": "leased", "status": "initiated", "dialLeaseUntil": t + timedelta(minutes=1)},
        {"_id": "dialed", "status": "initiated", "dialLeaseUntil": EPOCH, "providerCallSid": "CA1"},
        {"_id": "done", "status": "completed", "dialLeaseUntil": EPOCH},
    ])

    def claim(call_id):
        return db.calls.find_one_and_update(
            {"_id": call_id, "status": "initiated", "providerCallSid": {"$exists": False},
             "dialLeaseUntil": {"$lt": t}},
            {"$set": {"dialLeaseUntil": t + timedelta(seconds=60)}, "$min": {"dialClaimedAt": t},
             "$inc": {"dialAttempts": 1}},
            return_document=True)

    won = claim("free")
    assert won["_id"] == "free" and won["dialAttempts"] == 1 and won["dialClaimedAt"] == t
    assert claim("free") is None          # now leased
    assert claim("leased") is None
    assert claim("dialed") is None
    assert claim("done") is None
    assert db.calls.find_one({"_id": "leased"}).get("dialAttempts") is None


def test_concurrent_claims_have_one_winner(db):
    t = now()
    db.calls.insert_many([{"_id": f"c{i}", "status": "initiated", "dialLeaseUntil": EPOCH} for i in range(20)])
    wins: list[str] = []
    lock = threading.Lock()

    def worker():
        for i in range(20):
            doc = db.calls.find_one_and_update(
                {"_id": f"c{i}", "status": "initiated", "dialLeaseUntil": {"$lt": t}},
                {"$set": {"dialLeaseUntil": t + timedelta(seconds=60)}}, return_document=True)
            if doc:
                with lock:
                    wins.append(doc["_id"])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(wins) == sorted(f"c{i}" for i in range(20))


def test_guarded_transition_with_in(db):
    db.calls.insert_one({"_id": "x", "status": "ringing"})
    assert db.calls.find_one_and_update({"_id": "x", "status": {"$in": ["initiated", "ringing"]}},
                                        {"$set": {"status": "in-progress"}}, return_document=True)
    assert db.calls.find_one_and_update({"_id": "x", "status": {"$in": ["initiated", "ringing"]}},
                                        {"$set": {"status": "ringing"}}) is None


def test_or_on_dates_keeps_its_sibling_clauses(db):
    t = now()
    db.c.insert_many([{"_id": "a"}, {"_id": "b", "at": t - timedelta(seconds=5)},
                      {"_id": "c", "at": t + timedelta(seconds=5)}])
    query = and_({"_id": "c"}, {"$or": [{"at": {"$exists": False}}, {"at": {"$lt": t}}]})
    assert list(db.c.find(query)) == []
    assert db.c.find_one_and_update(query, {"$set": {"x": 1}}) is None


def test_keyset_pagination_newest_first(db):
    t = now()
    docs = [{"_id": f"d{i:02d}", "createdAt": t - timedelta(seconds=i // 3), "k": i % 2} for i in range(10)]
    db.c.insert_many(docs)
    seen, cursor = [], None
    while True:
        page, cursor = newest_first_page(db.c, {}, limit=4, cursor=cursor)
        seen += [d["_id"] for d in page]
        if cursor is None:
            break
    expected = [d["_id"] for d in sorted(docs, key=lambda d: (d["createdAt"], d["_id"]), reverse=True)]
    assert seen == expected
    page, _ = newest_first_page(db.c, {"k": 1}, limit=100, cursor=None)
    assert [d["_id"] for d in page] == [i for i in expected if int(i[1:]) % 2 == 1]


def test_unique_sparse_index_allows_many_missing(db):
    db.c.create_index([("sid", 1)], unique=True, sparse=True, name="c_sid")
    db.c.insert_many([{"_id": "a"}, {"_id": "b"}])
    db.c.update_one({"_id": "a"}, {"$set": {"sid": "CA1"}})
    with pytest.raises(DuplicateKeyError):
        db.c.update_one({"_id": "b"}, {"$set": {"sid": "CA1"}})


def test_sort_limit_projection(db):
    t = now()
    db.e.insert_many([{"_id": f"e{i}", "callId": "c", "timestamp": t + timedelta(seconds=-i)} for i in range(5)])
    ids = [d["_id"] for d in db.e.find({"callId": "c"}).sort([("timestamp", 1), ("_id", 1)])]
    assert ids == ["e4", "e3", "e2", "e1", "e0"]
    assert list(db.e.find({"callId": "c"}, {"_id": 1}).sort([("_id", 1)]).limit(2)) == [{"_id": "e0"}, {"_id": "e1"}]


def test_migrations_are_idempotent_and_reversible(db):
    from chalicelib import migrations

    everything = [m.VERSION for m in migrations.MIGRATIONS]
    assert migrations.up(db) == []          # the fixture already applied them
    assert all(s.applied_at for s in migrations.status(db))
    assert migrations.down(db) == [everything[-1]]                  # only the latest, by default
    assert migrations.down(db, target=0) == list(reversed(everything[:-1]))
    assert not {"calls", "scheduled_calls", "retry_attempts"} & set(db.list_collection_names())
    assert migrations.up(db) == everything
    assert {"agents", "calls", "call_events", "idempotency_keys", "scheduled_calls",
            "retry_attempts"} <= set(db.list_collection_names())
    assert migrations.up(db) == []


def test_date_comparisons_keep_milliseconds(db):
    t = now().replace(microsecond=100_000)
    db.c.insert_many([{"_id": f"m{i}", "at": t + timedelta(milliseconds=200 * i)} for i in range(4)])
    pivot = t + timedelta(milliseconds=400)
    assert sorted(d["_id"] for d in db.c.find({"at": {"$gte": pivot}})) == ["m2", "m3"]
    assert sorted(d["_id"] for d in db.c.find({"at": {"$gt": pivot}})) == ["m3"]
    assert sorted(d["_id"] for d in db.c.find({"at": {"$lt": pivot}})) == ["m0", "m1"]
    assert [d["_id"] for d in db.c.find({"at": pivot})] == ["m2"]
    assert db.c.find_one_and_update({"_id": "m1", "at": {"$lt": pivot}}, {"$set": {"x": 1}}) is not None
    assert db.c.find_one_and_update({"_id": "m3", "at": {"$lt": pivot}}, {"$set": {"x": 1}}) is None



def test_claims_take_the_earliest_due_first(db):
    t = now()
    db.c.insert_many([{"_id": f"s{i}", "status": "pending", "nextRun": t + timedelta(seconds=10 - i)}
                      for i in range(5)])
    order = []
    while doc := db.c.find_one_and_update({"status": "pending", "nextRun": {"$lte": t + timedelta(minutes=1)}},
                                          {"$set": {"status": "processing", "leaseUntil": t}},
                                          sort=[("nextRun", 1)], return_document=True):
        order.append(doc["_id"])
    assert order == ["s4", "s3", "s2", "s1", "s0"]
    # releasing only with the exact lease one holds
    assert db.c.update_one({"_id": "s0", "status": "processing", "leaseUntil": t},
                           {"$set": {"status": "pending"}}).modified_count == 1
    assert db.c.update_one({"_id": "s1", "status": "processing", "leaseUntil": t + timedelta(milliseconds=1)},
                           {"$set": {"status": "pending"}}).modified_count == 0


def test_update_many_and_inc(db):
    db.c.insert_many([{"_id": f"r{i}", "o": "x", "status": "pending", "n": 1} for i in range(3)])
    assert db.c.update_many({"o": "x", "status": "pending"}, {"$set": {"status": "cancelled"}}).modified_count == 3
    db.c.update_one({"_id": "r0"}, {"$inc": {"n": -1}})
    assert db.c.find_one({"_id": "r0"})["n"] == 0


def test_array_membership_on_an_indexed_array_field(db):
    db.c.create_index([("tags", 1)], name="c_tags")
    db.c.insert_many([{"_id": "a", "tags": ["vip", "east"]}, {"_id": "b", "tags": ["new"]}])
    # Repositories ask with $in: plain equality on an indexed array misses on nx-27017.
    assert [d["_id"] for d in db.c.find({"tags": {"$in": ["vip"]}})] == ["a"]


def test_upsert_with_set_on_insert_keyed_by_a_unique_field(db):
    """The recordings repository: one document per recording SID; the first
    delivery inserts, later ones update, an in-progress one only inserts."""
    from pymongo import IndexModel

    db.recs.create_indexes([IndexModel([("recordingSid", 1)], name="recs_sid", unique=True)])
    t = now()
    db.recs.update_one({"recordingSid": "RE1"}, {"$set": {"status": "in-progress"},
                                                 "$setOnInsert": {"_id": "rec_1", "createdAt": t}}, upsert=True)
    db.recs.update_one({"recordingSid": "RE1"}, {"$set": {"status": "completed", "url": "u"},
                                                 "$setOnInsert": {"_id": "rec_2", "createdAt": t}}, upsert=True)
    db.recs.update_one({"recordingSid": "RE1"}, {"$setOnInsert": {"_id": "rec_3", "status": "in-progress"}},
                       upsert=True)
    [doc] = list(db.recs.find({"recordingSid": "RE1"}))
    assert (doc["_id"], doc["status"], doc["url"], doc["createdAt"]) == ("rec_1", "completed", "u", t)


def test_setting_a_taken_unique_sparse_value_raises_in_update_one(db):
    """calls.conversationId: a conversation belongs to one call."""
    from pymongo import IndexModel

    db.calls2.create_indexes([IndexModel([("conversationId", 1)], name="c_conv", unique=True, sparse=True)])
    db.calls2.insert_many([{"_id": "a", "conversationId": "conv_1"}, {"_id": "b"}, {"_id": "c"}])
    with pytest.raises(DuplicateKeyError):
        db.calls2.update_one({"_id": "b", "conversationId": {"$exists": False}}, {"$set": {"conversationId": "conv_1"}})
    result = db.calls2.update_one({"_id": "b", "conversationId": {"$exists": False}},
                                  {"$set": {"conversationId": "conv_2"}})
    assert result.modified_count == 1
    assert db.calls2.update_one({"_id": "b", "conversationId": {"$exists": False}},
                                {"$set": {"conversationId": "conv_3"}}).modified_count == 0


def test_compare_and_set_on_a_version_and_insert_races(db):
    """The rate limiter: read, then update only if the version is unchanged;
    the first writer of a new document is decided by the unique _id."""
    db.rate_limits.insert_one({"_id": "account", "recent": [1, 2], "version": 1})
    assert db.rate_limits.update_one({"_id": "account", "version": 1},
                                     {"$set": {"recent": [2, 3]}, "$inc": {"version": 1}}).modified_count == 1
    assert db.rate_limits.update_one({"_id": "account", "version": 1},
                                     {"$set": {"recent": [9]}, "$inc": {"version": 1}}).modified_count == 0
    assert db.rate_limits.find_one({"_id": "account"}) == {"_id": "account", "recent": [2, 3], "version": 2}
    with pytest.raises(DuplicateKeyError):
        db.rate_limits.insert_one({"_id": "account", "recent": [], "version": 1})


def test_slot_claim_takes_the_lowest_free_index_below_the_limit(db):
    db.concurrency_slots.insert_many([{"_id": f"s#{i}", "scope": "s", "index": i, "busy": i == 0, "holder": ""}
                                      for i in range(3)])
    claim = {"scope": "s", "busy": False, "index": {"$lt": 2}}
    taken = db.concurrency_slots.find_one_and_update(claim, {"$set": {"busy": True, "holder": "c1"}},
                                                     sort=[("index", 1)], return_document=True)
    assert taken["index"] == 1
    assert db.concurrency_slots.find_one_and_update(claim, {"$set": {"busy": True}}) is None
    assert db.concurrency_slots.count_documents({"scope": "s", "busy": True}) == 2


def test_bulk_insert_reports_duplicates_and_inserts_the_rest(db):
    from pymongo.errors import BulkWriteError

    db.calls.insert_one({"_id": "c1"})
    with pytest.raises(BulkWriteError) as raised:
        db.calls.insert_many([{"_id": "c0"}, {"_id": "c1"}, {"_id": "c2"}], ordered=False)
    assert raised.value.details["nInserted"] == 2
    assert {e["code"] for e in raised.value.details["writeErrors"]} == {11000}
    assert db.calls.count_documents({}) == 3


def test_group_by_status_and_not_in(db):
    """Seed 000's batch progress. (A compound `_id` in $group, e.g.
    `{status: "$status", n: "$retryCount"}`, is not evaluated by the embedded
    server: group by one field and $match the rest, as the repository does.)"""
    db.calls.insert_many([{"_id": "a", "batchId": "b", "status": "failed", "retryCount": 0},
                          {"_id": "b", "batchId": "b", "status": "failed", "retryCount": 1},
                          {"_id": "c", "batchId": "b", "status": "initiated", "retryCount": 0},
                          {"_id": "d", "batchId": "x", "status": "failed", "retryCount": 0}])
    rows = db.calls.aggregate([{"$match": {"batchId": "b", "retryCount": {"$gt": 0}}},
                               {"$group": {"_id": "$status", "count": {"$sum": 1}}}])
    assert {r["_id"]: r["count"] for r in rows} == {"failed": 1}
    assert db.calls.count_documents({"batchId": "b", "status": {"$nin": ["failed", "completed"]}}) == 1


def test_dotted_increments_next_to_a_datetime(db):
    """The embedded server's Python update path (taken by updates that carry
    a datetime) once wrote $inc on "a.b" to a top-level key named "a.b"."""
    db.t.insert_one({"_id": "x", "stats": {"total": 1, "failed": 0}, "log": {"items": []}})
    db.t.update_one({"_id": "x"}, {"$inc": {"stats.total": 2, "stats.failed": 1}, "$set": {"updatedAt": now()},
                                   "$max": {"stats.peak": 7}, "$push": {"log.items": {"at": now()}}})
    doc = db.t.find_one({"_id": "x"})
    assert doc["stats"] == {"total": 3, "failed": 1, "peak": 7}
    assert len(doc["log"]["items"]) == 1 and "stats.total" not in doc


def test_aggregate_match_on_a_date_range(db):
    """The embedded server's fast path returns nothing for a bare date range in
    an aggregation `$match`; spelled as `$and` of clauses (what the repositories
    do) it matches on both servers."""
    t = now()
    db.agg.insert_many([{"_id": f"a{i}", "at": t + timedelta(minutes=i), "s": "x" if i % 2 else "y"} for i in range(6)])
    window = {"at": {"$gte": t + timedelta(minutes=1), "$lt": t + timedelta(minutes=5)}}
    rows = db.agg.aggregate([{"$match": {"$and": [window]}}, {"$group": {"_id": "$s", "n": {"$sum": 1}}}])
    assert {r["_id"]: r["n"] for r in rows} == {"x": 2, "y": 2}


def test_group_key_concat_ifnull_and_minutes(db):
    """One string group key (`$concat` + `$ifNull`: the embedded server ignores a
    document `_id`), sums of absent fields, and minutes by `$dateToString` in UTC."""
    t = now().replace(hour=10, minute=7, second=30)
    db.agg.insert_many([{"_id": "a", "s": "completed", "o": "connected", "d": 30, "at": t},
                        {"_id": "b", "s": "completed", "d": 10, "at": t},
                        {"_id": "c", "s": "failed", "o": "busy", "at": t + timedelta(minutes=1)}])
    rows = db.agg.aggregate([{"$match": {"$and": [{}]}}, {"$group": {
        "_id": {"$concat": [{"$ifNull": ["$s", ""]}, "|", {"$ifNull": ["$o", ""]}]},
        "n": {"$sum": 1}, "d": {"$sum": {"$ifNull": ["$d", 0]}},
        "withD": {"$sum": {"$cond": [{"$ifNull": ["$d", False]}, 1, 0]}}}}])
    assert {r["_id"]: (r["n"], r["d"], r["withD"]) for r in rows} == {
        "completed|connected": (1, 30, 1), "completed|": (1, 10, 1), "failed|busy": (1, 0, 0)}
    minutes = db.agg.aggregate([{"$group": {"_id": {"$dateToString": {"format": "%Y-%m-%dT%H:%M", "date": "$at"}},
                                            "n": {"$sum": 1}}}])
    assert {r["_id"][11:]: r["n"] for r in minutes} == {"10:07": 2, "10:08": 1}


@pytest.mark.xfail(not os.environ.get("MONGODB_URI"), strict=True,
                   reason="nx-27017 ignores explicit index names (it names indexes idx_<collection>_<fields>) and "
                          "drop_index with the explicit name silently drops nothing")
def test_drop_index_by_its_explicit_name(db):
    db.ix.create_index([("a", 1)], name="ix_a_explicit")
    assert "ix_a_explicit" in db.ix.index_information()
    db.ix.drop_index("ix_a_explicit")
    assert [spec["key"] for spec in db.ix.index_information().values()] == [[("_id", 1)]]
