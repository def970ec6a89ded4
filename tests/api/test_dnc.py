"""The do-not-call list: numbers on it are never dialed by any path."""
from datetime import timedelta

from chalicelib import clock
from chalicelib.container import get_container
from tests.api.test_calls import create_call
from tests.helpers import body, post_json


def listed(client, phone, reason="asked not to be called"):
    response = post_json(client, "/dnc", {"phone": phone, "reason": reason})
    assert response.status_code in (200, 201), response.body
    return body(response)


def test_add_list_remove(client):
    entry = listed(client, "(415) 555-2671")
    assert entry["id"] == "+14155552671" and entry["reason"] == "asked not to be called"
    assert post_json(client, "/dnc", {"phone": "+1 415 555 2671"}).status_code == 200      # already listed
    assert [e["id"] for e in body(client.http.get("/dnc"))["items"]] == ["+14155552671"]
    assert client.http.delete("/dnc/%2B14155552671").status_code == 200
    assert client.http.delete("/dnc/%2B14155552671").status_code == 404
    assert post_json(client, "/dnc", {"phone": "12"}).status_code == 422


def test_a_listed_number_is_never_dialed_immediate_call(client, agent, provider):
    listed(client, "+14155552671")
    call = create_call(client, agent)
    assert (call["status"], call["failureReason"], call["canRetry"]) == ("failed", "do_not_call", False)
    events = body(client.http.get(f"/calls/{call['id']}"))["events"]
    assert [e["eventType"] for e in events] == ["created", "skipped"]
    assert events[-1]["reason"] == "the number is on the do-not-call list"
    assert get_container().dial_service.dial(call["id"]) == "skipped"
    assert provider.placed == []


def test_listed_after_scheduling_is_caught_by_the_dialer(client, agent, provider, frozen_clock):
    due = (clock.now() + timedelta(minutes=30)).isoformat()
    call = create_call(client, agent, scheduledFor=due)
    listed(client, "+14155552671")
    frozen_clock.advance(minutes=30)
    get_container().scheduler.tick()
    assert get_container().dial_service.dial(call["id"]) == "failed"
    stored = body(client.http.get(f"/calls/{call['id']}"))
    assert (stored["status"], stored["failureReason"]) == ("failed", "do_not_call")
    assert provider.placed == []


def test_retries_never_dial_a_number_listed_meanwhile(client, agent, provider, frozen_clock):
    from tests.helpers import twilio_callback

    call = create_call(client, agent, retryPolicy={"maxRetries": 1, "intervalsMinutes": [5], "jitter": 0})
    get_container().dial_service.dial(call["id"])
    sid = body(client.http.get(f"/calls/{call['id']}"))["providerCallSid"]
    twilio_callback(client, call["id"], "busy", sid)
    listed(client, "+14155552671")
    frozen_clock.advance(minutes=5)
    get_container().scheduler.tick()
    assert get_container().dial_service.dial(f"{call['id']}_r1") == "failed"
    assert len(provider.placed) == 1


def test_csv_import_reports_every_row(client, db):
    csv = ("\ufeffphone,reason\n+1 415 555 2671,opted out\n(415) 555-2672,\nnot a number,x\n\n"
           "+14155552671,duplicate\n020 7946 0958,uk\n")
    response = client.http.post("/dnc/import", headers={"content-type": "text/csv"}, body=csv)
    assert response.status_code == 200, response.body
    report = body(response)
    assert (report["rows"], report["added"], report["alreadyListed"]) == (5, 2, 1)
    assert [(r["line"], r["phone"]) for r in report["rejected"]] == [(4, "not a number"), (7, "020 7946 0958")]
    again = body(client.http.post("/dnc/import", headers={"content-type": "text/csv"}, body=csv))
    assert (again["added"], again["alreadyListed"]) == (0, 3)
    assert db.dnc.count_documents({}) == 2
    bad = client.http.post("/dnc/import", headers={"content-type": "text/csv"}, body="number\n123\n")
    assert bad.status_code == 422 and body(bad)["error"]["field"] == "phone"
