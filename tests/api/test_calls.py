import json

import pytest

from chalicelib.container import get_container
from tests.api.conftest import drain
from tests.helpers import body, post_json


def create_call(client, agent, to="(415) 555-2671", **extra):
    response = post_json(client, "/calls", {"to": to, "agentId": agent["id"], **extra})
    assert response.status_code == 202, response.body
    return body(response)


def test_create_normalises_stores_and_enqueues(client, agent, sqs, dial_queue_url):
    call = create_call(client, agent, metadata={"leadId": "L-1"})
    assert call["id"].startswith("call_")
    assert call["to"] == "+14155552671"
    assert call["from"] == "+14155550199"          # the agent's caller ID
    assert (call["status"], call["outboundStatus"]) == ("initiated", "queued")
    assert call["metadata"] == {"leadId": "L-1"}
    assert (call["isRetry"], call["canCancel"], call["canRetry"]) == (False, True, False)
    assert "dialLeaseUntil" not in call
    messages = drain(sqs, dial_queue_url)
    assert [json.loads(m["Body"]) for m in messages] == [{"callId": call["id"]}]

    stored = body(client.http.get(f"/calls/{call['id']}"))
    assert stored["status"] == "initiated"
    assert [e["eventType"] for e in stored["events"]] == ["created", "dispatched"]


@pytest.mark.parametrize("to, region_result", [("+44 20 7946 0958", "+442079460958"), ("415-555-2671", "+14155552671")])
def test_accepts_what_people_type(client, agent, to, region_result):
    assert create_call(client, agent, to=to)["to"] == region_result


@pytest.mark.parametrize("payload, status, field", [
    ({"to": "not a number"}, 422, "to"),
    ({"to": "+1 555 010 0000"}, 422, "to"),
    ({"to": "12"}, 422, "to"),
    ({"to": ""}, 422, "to"),
    ({"agentId": "agt_nobody"}, 422, "agentId"),
    ({"metadata": "x"}, 422, "metadata"),
    ({"metadata": {"$where": 1}}, 422, "metadata"),
    ({"metadata": {"a.b": 1}}, 422, "metadata"),
    ({"metadata": {"n": 2**63}}, 422, "metadata"),
    ({"metadata": {"deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}}}, 422, "metadata"),
    ({"metadata": {"big": "x" * 20000}}, 422, "metadata"),
    ({"extra": 1}, 422, "extra"),
])
def test_bad_input_names_the_field_and_writes_nothing(client, agent, payload, status, field, db):
    response = post_json(client, "/calls", {"to": "+14155552671", "agentId": agent["id"], **payload})
    assert response.status_code == status, response.body
    assert body(response)["error"]["field"] == field
    assert db.calls.count_documents({}) == 0


@pytest.mark.parametrize("raw, code", [("{not json", "bad_request"), ("[1, 2]", "bad_request"), ("", "bad_request"),
                                       ('{"to": NaN}', "bad_request"), ("[" * 5000 + "]" * 5000, "bad_request"),
                                       (r'{"to": "\ud800", "agentId": "x"}', "validation_error"),
                                       ('{"to": "\ud800"}', "bad_request")])
def test_malformed_bodies_are_4xx(client, raw, code):
    response = client.http.post("/calls", headers={"content-type": "application/json"}, body=raw)
    assert response.status_code in (400, 422)
    assert body(response)["error"]["code"] == code


def test_wrong_content_type_is_415_in_our_error_shape(client):
    response = client.http.post("/calls", headers={"content-type": "text/plain"}, body="hi")
    assert response.status_code == 415
    assert body(response)["error"]["code"] == "unsupported_media_type"


def test_idempotency_key_returns_the_same_call(client, agent, sqs, dial_queue_url, db):
    payload = {"to": "+14155552671", "agentId": agent["id"]}
    first = post_json(client, "/calls", payload, headers={"Idempotency-Key": "order-42"})
    again = post_json(client, "/calls", payload, headers={"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 202
    assert body(first)["id"] == body(again)["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert db.calls.count_documents({}) == 1
    assert len(drain(sqs, dial_queue_url)) == 1

    other = post_json(client, "/calls", {**payload, "to": "+14155552672"}, headers={"Idempotency-Key": "order-42"})
    assert other.status_code == 422
    assert body(other)["error"]["field"] == "Idempotency-Key"


def test_unknown_call_is_404(client):
    response = client.http.get("/calls/call_missing")
    assert response.status_code == 404
    assert body(response)["error"] == {"code": "not_found", "message": "no call call_missing", "field": "callId"}


def test_list_filters_and_paginates(client, agent):
    other = body(post_json(client, "/agents", {"name": "Bo"}))
    made = [create_call(client, agent, to=f"+1415555{2671 + i}") for i in range(4)]
    made.append(create_call(client, other, to="+14155552671"))
    newest_first = [c["id"] for c in reversed(made)]

    assert [c["id"] for c in body(client.http.get("/calls?limit=100"))["items"]] == newest_first
    by_agent = body(client.http.get(f"/calls?agentId={agent['id']}"))["items"]
    assert [c["id"] for c in by_agent] == newest_first[1:]
    by_number = body(client.http.get("/calls?to=(415) 555-2671"))["items"]
    assert {c["id"] for c in by_number} == {made[0]["id"], made[4]["id"]}
    assert body(client.http.get("/calls?status=completed"))["items"] == []
    assert len(body(client.http.get("/calls?status=initiated&direction=outbound"))["items"]) == 5

    pages, cursor = [], None
    while True:
        page = body(client.http.get("/calls?limit=2" + (f"&cursor={cursor}" if cursor else "")))
        pages += [c["id"] for c in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert pages == newest_first

    start = made[2]["createdAt"]
    ranged = body(client.http.get(f"/calls?createdFrom={start}"))["items"]
    assert {c["id"] for c in ranged} >= {made[2]["id"], made[3]["id"], made[4]["id"]}
    assert made[0]["id"] not in {c["id"] for c in ranged} or made[0]["createdAt"] == start


@pytest.mark.parametrize("query, field", [
    ("status=lost", "status"), ("direction=sideways", "direction"), ("limit=0", "limit"), ("limit=500", "limit"),
    ("cursor=%%%", "cursor"), ("createdFrom=yesterday", "createdFrom"), ("createdFrom=2026-01-01T00:00:00", "createdFrom"),
    ("to=abc", "to"), ("limit=²", "limit"), ("createdFrom=0001-01-01T00:00:00%2B01:00", "createdFrom"),
    ("createdTo=9999-12-31T23:59:59-01:00", "createdTo"), ("cursor=" + "W" * 300, "cursor"),
    ("cursor=W1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tb", "cursor"),
])
def test_list_rejects_bad_filters(client, query, field):
    response = client.http.get(f"/calls?{query}")
    assert response.status_code == 422, response.body
    assert body(response)["error"]["field"] == field


def test_cancel_before_dialing(client, agent, provider):
    call = create_call(client, agent)
    response = client.http.post(f"/calls/{call['id']}/cancel")
    assert response.status_code == 200
    cancelled = body(response)
    assert (cancelled["status"], cancelled["failureReason"], cancelled["canCancel"]) == ("cancelled", "cancelled", False)
    assert provider.cancelled == []                      # nothing was dialed yet

    again = client.http.post(f"/calls/{call['id']}/cancel")       # cancelling twice is harmless
    assert again.status_code == 200 and body(again)["status"] == "cancelled"
    # The dialer then finds nothing to do.
    assert get_container().dial_service.dial(call["id"]) == "skipped"
    assert provider.placed == []


def test_cancel_while_ringing_cancels_at_the_carrier(client, agent, provider):
    call = create_call(client, agent)
    get_container().dial_service.dial(call["id"])
    sid = body(client.http.get(f"/calls/{call['id']}"))["providerCallSid"]
    response = client.http.post(f"/calls/{call['id']}/cancel")
    assert response.status_code == 200
    assert provider.cancelled == [sid]


def test_queue_outage_loses_nothing(client, agent, sqs, dial_queue_url, provider, db):
    sqs.delete_queue(QueueUrl=dial_queue_url)
    call = create_call(client, agent)
    stored = body(client.http.get(f"/calls/{call['id']}"))
    assert [e["eventType"] for e in stored["events"]] == ["created", "enqueue_deferred"]

    recreated = sqs.create_queue(QueueName="outdial-dial")["QueueUrl"]
    container = get_container()
    container.dial_queue._queue_url = None              # the queue came back under a new URL
    assert container.scheduler.tick()["dispatched"] == 1    # the next scheduler run sends it
    assert container.scheduler.tick()["dispatched"] == 0    # once
    assert container.dial_service.enqueue_undialed(container.dial_queue) == 0
    assert [json.loads(m["Body"])["callId"] for m in drain(sqs, recreated)] == [call["id"]]


def test_cancel_racing_the_dialer_hangs_up_the_call_it_placed(client, agent, provider, monkeypatch):
    call = create_call(client, agent)
    container = get_container()
    real_transition = container.calls.transition

    def dial_first(*args, **kwargs):       # the worker stores its carrier call just before our update
        container.dial_service.dial(call["id"])
        return real_transition(*args, **kwargs)

    monkeypatch.setattr(container.calls, "transition", dial_first)
    response = client.http.post(f"/calls/{call['id']}/cancel")
    assert response.status_code == 200 and body(response)["status"] == "cancelled"
    assert provider.cancelled == [body(response)["providerCallSid"]]


def test_cancel_when_the_carrier_is_down_is_503_and_changes_nothing(client, agent, provider):
    from chalicelib.providers.base import ProviderUnavailable

    call = create_call(client, agent)
    get_container().dial_service.dial(call["id"])
    provider.cancel_call = lambda sid: (_ for _ in ()).throw(ProviderUnavailable("down"))
    response = client.http.post(f"/calls/{call['id']}/cancel")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert body(client.http.get(f"/calls/{call['id']}"))["status"] == "initiated"
