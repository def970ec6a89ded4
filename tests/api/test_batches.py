"""Batch calls: POST /calls/batch, fan-out through the queue, progress, pause, cancel, concurrency slots."""
import json
from datetime import timedelta

from chalicelib.container import get_container
from tests.api.conftest import drain
from tests.api.test_dial_worker import invoke
from tests.helpers import body, post_json, twilio_callback


def create_batch(client, agent, recipients, headers=None, status=202, **extra):
    response = post_json(client, "/calls/batch", {"agentId": agent["id"], "recipients": recipients, **extra},
                         headers=headers)
    assert response.status_code == status, response.body
    return body(response)


def fan_out(client, sqs, dial_queue_url):
    """Deliver the batch's chunk messages to the worker, as Lambda would (the
    dial messages it sends are seen through the `sent` fixture)."""
    messages = [m["Body"] for m in drain(sqs, dial_queue_url)]
    chunks = [m for m in messages if "batchChunk" in json.loads(m)]
    if chunks:
        assert invoke(client, *chunks) == {"batchItemFailures": []}
    drain(sqs, dial_queue_url)
    return len(chunks)


def batch_calls(db, batch_id):
    return list(db.calls.find({"batchId": batch_id}).sort("scheduledFor", 1))


def progress(client, batch_id):
    response = client.http.get(f"/batches/{batch_id}")
    assert response.status_code == 200, response.body
    return body(response)


def test_batch_skips_do_not_call_and_repeated_numbers_and_stores_variables(client, agent, provider, sqs,
                                                                           dial_queue_url, db, sent):
    post_json(client, "/dnc", {"phone": "+1 415 555 0303", "reason": "opted out"})
    batch = create_batch(client, agent, [
        {"to": "(415) 555-0301", "variables": {"firstName": "Ana", "balance": 12.5}},
        {"to": "+14155550303"},                        # on the do-not-call list
        {"to": "415 555 0302"},
        {"to": "+1 415-555-0301", "variables": {"firstName": "again"}},   # the same person twice
    ], metadata={"campaign": "spring"})
    assert batch["batchId"] == batch["id"] and batch["id"].startswith("bat_")
    assert (batch["size"], batch["status"], batch["chunks"]) == (2, "active", 1)
    assert batch["skipped"] == [{"index": 1, "to": "+14155550303", "reason": "do_not_call"},
                                {"index": 3, "to": "+14155550301", "reason": "duplicate"}]

    assert fan_out(client, sqs, dial_queue_url) == 1
    calls = batch_calls(db, batch["id"])
    assert [(c["to"], c.get("dynamicVariables"), c["metadata"]) for c in calls] == [
        ("+14155550301", {"firstName": "Ana", "balance": 12.5}, {"campaign": "spring", "batchIndex": 0}),
        ("+14155550302", {}, {"campaign": "spring", "batchIndex": 2})]
    # spaced at the account's rate (1 call per second by default), both due within the lookahead
    assert calls[1]["scheduledFor"] - calls[0]["scheduledFor"] == timedelta(seconds=1)
    assert sent == [(calls[0]["_id"], 0), (calls[1]["_id"], 1)]
    # a redelivered chunk adds nothing
    chunk = json.dumps({"batchChunk": f"{batch['id']}:0"})
    assert invoke(client, chunk) == {"batchItemFailures": []}
    assert len(batch_calls(db, batch["id"])) == 2 and len(sent) == 2

    got = progress(client, batch["id"])
    assert got["progress"] == {"size": 2, "created": 2, "skipped": 2, "finished": 0,
                               "byStatus": {"initiated": 2}, "retries": {}}
    assert provider.placed == []
    assert db.calls.count_documents({"to": "+14155550303"}) == 0


def test_a_number_listed_after_the_batch_is_never_dialed(client, agent, provider, sqs, dial_queue_url, db):
    batch = create_batch(client, agent, [{"to": "+14155550301"}])
    fan_out(client, sqs, dial_queue_url)
    post_json(client, "/dnc", {"phone": "+14155550301"})
    [call] = batch_calls(db, batch["id"])
    assert get_container().dial_service.dial(call["_id"]) == "failed"
    assert db.calls.find_one({"_id": call["_id"]})["failureReason"] == "do_not_call"
    assert provider.placed == []


def test_any_invalid_row_rejects_the_batch_naming_every_row(client, agent, db):
    response = post_json(client, "/calls/batch", {"agentId": agent["id"], "recipients": [
        {"to": "+14155550301"}, {"to": "not a number"}, {"to": "+14155550302", "variables": {"plan": {"a": 1}}},
        {"phone": "+14155550303"}, "+14155550304", {"to": "+1 555 010 0000"},
        {"to": "+14155550305", "variables": {"system__caller_id": "x"}}]})
    assert response.status_code == 422
    error = body(response)["error"]
    assert (error["code"], error["field"]) == ("invalid_rows", "recipients")
    assert [(r["index"], r["field"]) for r in error["rows"]] == [
        (1, "to"), (2, "variables.plan"), (3, "to"), (4, None), (5, "to"), (6, "variables")]
    assert "not a phone number" in error["rows"][0]["reason"]
    assert db.batches.count_documents({}) == 0 and db.calls.count_documents({}) == 0
    too_many = post_json(client, "/calls/batch", {"agentId": agent["id"],
                                                  "recipients": [{"to": "+14155550301"}] * 10_001})
    assert too_many.status_code == 422 and body(too_many)["error"]["field"] == "recipients"
    assert post_json(client, "/calls/batch", {"agentId": "agt_nope", "recipients": [{"to": "+14155550301"}]}
                     ).status_code == 422


def test_idempotency_key(client, agent, db, sqs, dial_queue_url):
    recipients = [{"to": "+14155550301"}, {"to": "+14155550302"}]
    first = create_batch(client, agent, recipients, headers={"Idempotency-Key": "spring-1"})
    replay = post_json(client, "/calls/batch", {"agentId": agent["id"], "recipients": recipients},
                       headers={"Idempotency-Key": "spring-1"})
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
    assert body(replay)["id"] == first["id"]
    other = post_json(client, "/calls/batch", {"agentId": agent["id"], "recipients": recipients[:1]},
                      headers={"Idempotency-Key": "spring-1"})
    assert other.status_code == 422 and body(other)["error"]["field"] == "Idempotency-Key"
    assert db.batches.count_documents({}) == 1
    assert len([m for m in drain(sqs, dial_queue_url) if "batchChunk" in m["Body"]]) == 1


def test_thousands_of_recipients_are_accepted_in_chunks_with_bulk_inserts(client, agent, sqs, dial_queue_url, db,
                                                                         sent):
    recipients = [{"to": f"+1415555{n:04d}", "variables": {"n": n}} for n in range(3000)]
    batch = create_batch(client, agent, recipients)
    assert (batch["size"], batch["chunks"]) == (3000, 6)
    # the request only stored the recipients in chunks and queued one message per chunk
    assert db.calls.count_documents({}) == 0
    chunks = [json.loads(m["Body"]) for m in drain(sqs, dial_queue_url)]
    assert chunks == [{"batchChunk": f"{batch['id']}:{n}"} for n in range(6)]
    # one chunk (one bulk insert) is 500 calls; what falls due within the dispatch lookahead
    # (120 s at 1 call/s) goes on the queue
    assert invoke(client, json.dumps(chunks[0])) == {"batchItemFailures": []}
    assert db.calls.count_documents({"batchId": batch["id"]}) == 500
    assert len(sent) == 121 and max(delay for _, delay in sent) == 120
    got = progress(client, batch["id"])["progress"]
    assert (got["size"], got["created"], got["byStatus"]) == (3000, 500, {"initiated": 500})
    assert got == progress(client, batch["id"])["progress"]    # not completed while calls are missing


def test_cancel_mid_run(client, agent, provider, sqs, dial_queue_url, db, frozen_clock):
    batch = create_batch(client, agent, [{"to": f"+141555503{n:02d}"} for n in range(4)],
                         retryPolicy={"maxRetries": 1, "intervalsMinutes": [30], "jitter": 0})
    fan_out(client, sqs, dial_queue_url)
    first, second, *undialed = [c["_id"] for c in batch_calls(db, batch["id"])]
    dial = get_container().dial_service.dial
    assert dial(first) == "dialed"
    frozen_clock.advance(seconds=1)
    assert dial(second) == "dialed"
    twilio_callback(client, first, "busy", db.calls.find_one({"_id": first})["providerCallSid"])   # retry pending

    cancelled = body(client.http.post(f"/batches/{batch['id']}/cancel"))
    assert (cancelled["status"], cancelled["cancelledCalls"], cancelled["cancelledRetries"]) == ("cancelled", 2, 1)
    assert [dial(call_id) for call_id in undialed] == ["skipped", "skipped"]
    assert len(provider.placed) == 2
    # the call in progress finishes
    twilio_callback(client, second, "completed", db.calls.find_one({"_id": second})["providerCallSid"],
                    CallDuration="31")
    got = progress(client, batch["id"])
    assert got["status"] == "cancelled"
    assert got["progress"]["byStatus"] == {"failed": 1, "completed": 1, "cancelled": 2}
    assert [e["eventType"] for e in body(client.http.get(f"/calls/{undialed[0]}"))["events"]][-1] == "cancelled"
    assert client.http.post(f"/batches/{batch['id']}/cancel").status_code == 200     # again: harmless
    assert client.http.post(f"/batches/{batch['id']}/resume").status_code == 409
    frozen_clock.advance(minutes=31)
    assert get_container().scheduler.tick()["retries"] == 0


def test_pause_holds_new_dials_until_resumed(client, agent, provider, sqs, dial_queue_url, db, frozen_clock):
    batch = create_batch(client, agent, [{"to": "+14155550301"}, {"to": "+14155550302"}])
    fan_out(client, sqs, dial_queue_url)
    first, second = [c["_id"] for c in batch_calls(db, batch["id"])]
    dial = get_container().dial_service.dial
    assert dial(first) == "dialed"
    assert body(client.http.post(f"/batches/{batch['id']}/pause"))["status"] == "paused"
    frozen_clock.advance(seconds=1)
    assert dial(second) == "deferred"
    assert [e["eventType"] for e in body(client.http.get(f"/calls/{second}"))["events"]][-1] == "held"
    assert len(provider.placed) == 1
    assert client.http.post(f"/batches/{batch['id']}/pause").status_code == 409
    assert body(client.http.post(f"/batches/{batch['id']}/resume"))["status"] == "active"
    frozen_clock.advance(seconds=60)
    assert dial(second) == "dialed"
    # both calls end: the batch completes
    for call_id in (first, second):
        twilio_callback(client, call_id, "completed", db.calls.find_one({"_id": call_id})["providerCallSid"])
    got = progress(client, batch["id"])
    assert (got["status"], got["progress"]["finished"]) == ("completed", 2)


def test_max_concurrent_calls_holds_a_slot_per_call_until_it_ends(client, agent, provider, sqs, dial_queue_url,
                                                                  db, frozen_clock, sent):
    batch = create_batch(client, agent, [{"to": "+14155550301"}, {"to": "+14155550302"}], maxConcurrentCalls=1)
    fan_out(client, sqs, dial_queue_url)
    first, second = [c["_id"] for c in batch_calls(db, batch["id"])]
    dial = get_container().dial_service.dial
    assert dial(first) == "dialed"
    frozen_clock.advance(seconds=2)
    assert dial(second) == "deferred"              # the batch's only slot is taken
    waiting = db.calls.find_one({"_id": second})
    assert waiting["waitingForSlot"] and waiting["dispatchPending"]
    assert [e["eventType"] for e in body(client.http.get(f"/calls/{second}"))["events"]][-1] == "paced"

    sent.clear()
    twilio_callback(client, first, "completed", db.calls.find_one({"_id": first})["providerCallSid"])
    assert [call_id for call_id, _ in sent] == [second]       # the freed slot woke the waiting call
    assert dial(second) == "dialed"
    assert get_container().pacer.in_use(f"batch:{batch['id']}") == 1


def test_the_sweep_recovers_a_slot_whose_call_never_reported_its_end(client, agent, provider, sqs, dial_queue_url,
                                                                     db, frozen_clock):
    batch = create_batch(client, agent, [{"to": "+14155550301"}], maxConcurrentCalls=1)
    fan_out(client, sqs, dial_queue_url)
    [call] = batch_calls(db, batch["id"])
    assert get_container().dial_service.dial(call["_id"]) == "dialed"
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=[])
    frozen_clock.advance(seconds=600 + 4 * 60)            # maxCallDuration plus less than the margin
    assert client.lambda_.invoke("sweep_undialed", event).payload["slotsRecovered"] == 0
    frozen_clock.advance(minutes=2)
    assert client.lambda_.invoke("sweep_undialed", event).payload["slotsRecovered"] == 1
    assert get_container().pacer.in_use(f"batch:{batch['id']}") == 0


def test_unknown_batch(client):
    assert client.http.get("/batches/bat_nope").status_code == 404
    assert client.http.post("/batches/bat_nope/cancel").status_code == 404


def test_a_lost_chunk_message_is_sent_again_by_the_sweep(client, agent, sqs, dial_queue_url, db, frozen_clock):
    batch = create_batch(client, agent, [{"to": "+14155550301"}])
    drain(sqs, dial_queue_url)                     # the chunk's message is lost
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=[])
    assert client.lambda_.invoke("sweep_undialed", event).payload["chunksResent"] == 0
    frozen_clock.advance(minutes=3)
    assert client.lambda_.invoke("sweep_undialed", event).payload["chunksResent"] == 1
    assert fan_out(client, sqs, dial_queue_url) == 1
    assert len(batch_calls(db, batch["id"])) == 1
    assert client.lambda_.invoke("sweep_undialed", event).payload["chunksResent"] == 0    # done: never again
