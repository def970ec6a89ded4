"""Campaigns: the lifecycle table at the API, and the runner placing calls
within hours and limits, settling contacts as calls end, until completion."""
import hashlib
import hmac
import json
import threading
from datetime import datetime, timezone

import pytest

from chalicelib import clock
from chalicelib.container import get_container
from chalicelib.models.campaign import CampaignContact, CampaignStatus, ContactStatus
from chalicelib.models.contact import ContactCreate
from chalicelib.services.callbacks import CallbackService
from tests.api.test_scheduling import at, queued
from tests.helpers import body, post_json, twilio_callback

UTC = timezone.utc
TUESDAY_NOON_NY = datetime(2027, 1, 5, 17, 0, tzinfo=UTC)     # 09:00 in California
CONFIG = {"maxConcurrentCalls": 2,
          "retryConfig": {"maxAttempts": 2, "delayBetweenAttempts": 30, "retryStatuses": ["busy", "no_answer"]},
          "scheduleConfig": {"timeZone": "America/New_York", "allowedHours": {"start": "09:00", "end": "20:00"},
                             "allowedDays": [1, 2, 3, 4, 5]}}


@pytest.fixture
def tuesday(frozen_clock):
    at(frozen_clock, TUESDAY_NOON_NY)
    return frozen_clock


def create(client, agent, **fields):
    response = post_json(client, "/campaigns", {"name": "Winter check-ups", "agentId": agent["id"],
                                                "config": CONFIG, **fields})
    assert response.status_code == 201, response.body
    return body(response)


def add_contacts(campaign_id, phones, **custom):
    """Put contacts on the campaign the way an import does."""
    container = get_container()
    rows = []
    for phone in phones:
        contact = (container.contacts.get_by_phone(phone)
                   or container.contact_service.create(ContactCreate(phone=phone)))
        now = clock.now()
        rows.append(CampaignContact(id=f"cc_{contact.id.removeprefix('ctc_')}", created_at=now, updated_at=now,
                                    campaign_id=campaign_id, contact_id=contact.id, phone=contact.phone,
                                    next_attempt=now, custom_data=custom))
    added, _ = container.campaign_contacts.add_many(rows)
    container.campaigns.add_to_stats(campaign_id, {"totalContacts": added}, now=clock.now())


def action(client, campaign_id, name):
    return client.http.post(f"/campaigns/{campaign_id}/{name}")


@pytest.fixture(autouse=True)
def _frozen(frozen_clock):
    FROZEN[:] = [frozen_clock]


FROZEN = []


def dial(call_id):
    """Dial at least a second after the last dial, as the account's 1 call
    per second would anyway (the clock is frozen)."""
    FROZEN[0].advance(seconds=1)
    return get_container().dial_service.dial(call_id)


def dial_and_end(client, call_id, status, **extra):
    dial(call_id)
    sid = body(client.http.get(f"/calls/{call_id}"))["providerCallSid"]
    assert twilio_callback(client, call_id, status, sid, **extra).status_code == 200


def rows(client, campaign_id):
    items = body(client.http.get(f"/campaigns/{campaign_id}/contacts?limit=100"))["items"]
    return {row["phone"]: row for row in items}


PHONES = ["+14155550101", "+14155550102", "+14155550103"]


def test_create_validates_and_starts_as_draft(client, agent):
    campaign = create(client, agent, description="Call patients due a check-up")
    assert campaign["status"] == "draft" and campaign["id"].startswith("cmp_")
    assert campaign["stats"]["totalContacts"] == 0 and campaign["stats"].get("successRate") is None
    assert campaign["callbackSecret"].startswith("whsec_")
    assert "runnerLeaseUntil" not in campaign

    bad = post_json(client, "/campaigns", {"name": "x", "agentId": agent["id"],
                                           "config": {"scheduleConfig": {"allowedDays": [7]}}})
    assert bad.status_code == 422 and body(bad)["error"]["field"] == "config.scheduleConfig.allowedDays"
    never = post_json(client, "/campaigns", {"name": "x", "agentId": agent["id"],
                                             "config": {"retryConfig": {"retryStatuses": ["do_not_call"]}}})
    assert never.status_code == 422 and "never retried" in body(never)["error"]["message"]
    no_agent = post_json(client, "/campaigns", {"name": "x", "agentId": "agt_missing"})
    assert no_agent.status_code == 422 and body(no_agent)["error"]["field"] == "agentId"
    assert get_container().campaigns.get("cmp_missing") is None
    assert client.http.get("/campaigns/cmp_missing").status_code == 404


def test_lifecycle_table_refuses_illegal_moves(client, agent, provider, tuesday, sent):
    campaign = create(client, agent)
    cid = campaign["id"]
    assert action(client, cid, "start").status_code == 409            # no contacts yet
    for illegal in ("pause", "resume"):
        response = action(client, cid, illegal)
        assert response.status_code == 409 and body(response)["error"]["field"] == "status"
    add_contacts(cid, PHONES)
    assert body(action(client, cid, "start"))["status"] == "active"
    assert action(client, cid, "start").status_code == 409
    assert action(client, cid, "resume").status_code == 409
    patch = client.http.patch(f"/campaigns/{cid}", headers={"content-type": "application/json"},
                              body=json.dumps({"name": "renamed"}))
    assert patch.status_code == 409                                    # only while draft or paused
    assert body(action(client, cid, "pause"))["status"] == "paused"
    patch = client.http.patch(f"/campaigns/{cid}", headers={"content-type": "application/json"},
                              body=json.dumps({"name": "renamed", "config": {**CONFIG, "maxConcurrentCalls": 3}}))
    assert patch.status_code == 200 and body(patch)["config"]["maxConcurrentCalls"] == 3
    assert body(action(client, cid, "cancel"))["status"] == "cancelled"
    assert body(action(client, cid, "cancel"))["status"] == "cancelled"    # idempotent
    for illegal in ("start", "pause", "resume"):
        assert action(client, cid, illegal).status_code == 409


def test_future_start_date_waits_as_scheduled(client, agent, provider, tuesday, sent):
    campaign = create(client, agent, startDate="2027-01-06T15:00:00Z")
    add_contacts(campaign["id"], PHONES[:1])
    assert body(action(client, campaign["id"], "start"))["status"] == "scheduled"
    runner = get_container().campaign_runner
    assert runner.tick() == {"started": 0, "placed": 0} and queued(sent) == []
    tuesday.advance(days=1)
    assert runner.tick() == {"started": 1, "placed": 1}
    assert len(queued(sent)) == 1


def test_run_to_completion_with_retries_and_stats(client, agent, provider, tuesday, sent):
    campaign = create(client, agent)
    cid = campaign["id"]
    add_contacts(cid, PHONES, **{"Plan": "gold", "Visits 2026": 3, "notes": {"nested": True}})
    started = body(action(client, cid, "start"))
    assert started["status"] == "active"
    first_two = queued(sent)
    assert len(first_two) == 2                                          # maxConcurrentCalls
    call = body(client.http.get(f"/calls/{first_two[0]}"))
    assert call["campaignId"] == cid and call["dynamicVariables"] == {"plan": "gold", "visits_2026": 3}
    assert call["campaignHours"]["timezone"] == "America/New_York"

    dial_and_end(client, first_two[0], "completed", CallDuration="42")
    [third] = queued(sent)                                              # the freed slot is refilled at once
    dial_and_end(client, first_two[1], "busy")
    assert queued(sent) == []                                           # busy: retried in 30 min, not now
    dial_and_end(client, third, "failed")                               # not in retryStatuses: final

    by_phone = rows(client, cid)
    busy_row = next(r for r in by_phone.values() if r["status"] == "pending")
    assert busy_row["attempts"] == 1 and busy_row["callResults"][0]["failureReason"] == "busy"
    runner = get_container().campaign_runner
    assert runner.tick()["placed"] == 0
    tuesday.advance(minutes=30)
    assert runner.tick()["placed"] == 1
    [retry] = queued(sent)
    assert retry.endswith("_2")
    dial_and_end(client, retry, "completed", CallDuration="18")

    done = body(client.http.get(f"/campaigns/{cid}"))
    assert done["status"] == "completed"
    stats = done["stats"]
    assert (stats["totalContacts"], stats["contactsAttempted"], stats["contactsCompleted"],
            stats["contactsFailed"]) == (3, 3, 2, 1)
    assert (stats["callsPlaced"], stats["totalCallTime"], stats["averageCallTime"],
            stats["successRate"]) == (4, 60, 30.0, 66.67)
    assert sorted(r["status"] for r in rows(client, cid).values()) == ["completed", "completed", "failed"]
    assert len(provider.placed) == 4


def test_outside_allowed_hours_nothing_is_dialed(client, agent, provider, tuesday, sent):
    campaign = create(client, agent)
    add_contacts(campaign["id"], PHONES)
    at(tuesday, datetime(2027, 1, 6, 2, 0, tzinfo=UTC))                # 21:00 in New York
    action(client, campaign["id"], "start")
    assert queued(sent) == []
    at(tuesday, datetime(2027, 1, 9, 17, 0, tzinfo=UTC))               # Saturday: not an allowed day
    assert get_container().campaign_runner.tick()["placed"] == 0


def test_contact_window_defers_that_contact_only(client, agent, provider, tuesday, sent):
    campaign = create(client, agent)
    cid = campaign["id"]
    add_contacts(cid, PHONES[:2])
    container = get_container()
    late_riser = container.contacts.get_by_phone(PHONES[0])
    container.contacts.update(late_riser.id, {"details": {"timezone": "America/Los_Angeles",
                                                          "preferredCallTime": {"start": "11:00", "end": "17:00"}}})
    action(client, cid, "start")
    [call_id] = queued(sent)
    assert body(client.http.get(f"/calls/{call_id}"))["to"] == PHONES[1]
    deferred = rows(client, cid)[PHONES[0]]
    assert deferred["status"] == "pending" and deferred["nextAttempt"] == "2027-01-05T19:00:00Z"   # 11:00 LA


def test_do_not_call_contact_is_skipped(client, agent, provider, tuesday, sent):
    campaign = create(client, agent)
    cid = campaign["id"]
    add_contacts(cid, PHONES[:2])
    assert post_json(client, "/dnc", {"phone": PHONES[0], "reason": "asked"}).status_code == 201
    action(client, cid, "start")
    [call_id] = queued(sent)
    assert body(client.http.get(f"/calls/{call_id}"))["to"] == PHONES[1]
    skipped = rows(client, cid)[PHONES[0]]
    assert (skipped["status"], skipped["skipReason"], skipped["attempts"]) == ("skipped", "do_not_call", 0)
    # Listed after the call was created: the dialer refuses, and the contact is settled as skipped.
    post_json(client, "/dnc", {"phone": PHONES[1]})
    dial(call_id)
    assert provider.placed == []
    assert rows(client, cid)[PHONES[1]]["status"] == "skipped"
    assert body(client.http.get(f"/campaigns/{cid}"))["status"] == "completed"


def test_pause_takes_back_undialed_calls_and_resume_continues(client, agent, provider, tuesday, sent):
    campaign = create(client, agent)
    cid = campaign["id"]
    add_contacts(cid, PHONES)
    action(client, cid, "start")
    dialed, undialed = queued(sent)
    dial(dialed)                           # in progress at the carrier

    assert body(action(client, cid, "pause"))["status"] == "paused"
    assert body(client.http.get(f"/calls/{undialed}"))["status"] == "cancelled"
    assert dial(undialed) == "skipped"
    by_call = {r["currentCallId"]: r for r in rows(client, cid).values() if r.get("currentCallId")}
    assert (by_call[undialed]["status"], by_call[undialed]["attempts"]) == ("pending", 0)
    assert by_call[dialed]["status"] == "calling"

    sid = body(client.http.get(f"/calls/{dialed}"))["providerCallSid"]
    twilio_callback(client, dialed, "completed", sid, CallDuration="30")   # finishes while paused
    assert get_container().campaign_runner.tick()["placed"] == 0 and queued(sent) == []

    assert body(action(client, cid, "resume"))["status"] == "active"
    assert len(queued(sent)) == 2
    assert len(provider.placed) == 1


def test_cancel_cancels_pending_contacts_and_undialed_calls(client, agent, provider, tuesday, sent):
    campaign = create(client, agent)
    cid = campaign["id"]
    add_contacts(cid, PHONES)
    action(client, cid, "start")
    first, second = queued(sent)
    dial_and_end(client, first, "busy")                                 # a retry is pending
    [third] = queued(sent)                                              # the freed slot went to the third
    action(client, cid, "cancel")
    statuses = sorted(r["status"] for r in rows(client, cid).values())
    assert statuses == ["cancelled", "cancelled", "cancelled"]
    assert [body(client.http.get(f"/calls/{c}"))["status"] for c in (second, third)] == ["cancelled"] * 2
    tuesday.advance(hours=1)
    assert get_container().campaign_runner.tick()["placed"] == 0 and queued(sent) == []


def test_concurrent_runners_never_exceed_the_limit(client, agent, provider, tuesday, sent):
    campaign = create(client, agent, config={**CONFIG, "maxConcurrentCalls": 3})
    cid = campaign["id"]
    add_contacts(cid, [f"+1415555{n:04d}" for n in range(200, 230)])
    container = get_container()
    # Active without the start's own fill, so the four runners race for every slot.
    container.campaigns.transition(cid, to=CampaignStatus.ACTIVE, allowed_from=[CampaignStatus.DRAFT],
                                   now=clock.now())
    barrier = threading.Barrier(4)

    def runner():
        barrier.wait()
        for _ in range(5):
            container.campaign_runner.fill(cid)

    threads = [threading.Thread(target=runner) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    placed = queued(sent)
    assert len(placed) == len(set(placed)) == 3
    assert container.campaign_contacts.count(cid, [ContactStatus.CALLING]) == 3


def test_crash_between_claim_and_call_is_repaired_with_the_same_call(client, agent, provider, tuesday, sent):
    campaign = create(client, agent)
    cid = campaign["id"]
    add_contacts(cid, PHONES[:1])
    container = get_container()
    container.campaign_runner._place = lambda call, now: None             # dies after the claim
    action(client, cid, "start")
    del container.campaign_runner._place
    row = next(iter(rows(client, cid).values()))
    assert row["status"] == "calling" and container.calls.get(row["currentCallId"]) is None
    tuesday.advance(minutes=1)
    container.campaign_runner.tick()
    assert queued(sent) == [row["currentCallId"]]
    assert container.calls.get(row["currentCallId"]).campaign_id == cid


def test_lost_final_callback_frees_the_slot_without_calling_again(client, agent, provider, tuesday, sent):
    campaign = create(client, agent, config={**CONFIG, "maxConcurrentCalls": 1})
    cid = campaign["id"]
    add_contacts(cid, PHONES[:2])
    action(client, cid, "start")
    [first] = queued(sent)
    dial(first)                          # answered; no final callback ever comes
    runner = get_container().campaign_runner
    tuesday.advance(minutes=5)
    assert runner.tick()["placed"] == 0
    tuesday.advance(minutes=16)                                        # maxCallDuration 600 s + 10 min margin
    assert runner.tick()["placed"] == 1
    lost = next(r for r in rows(client, cid).values() if r.get("currentCallId") == first)
    assert (lost["status"], lost["skipReason"]) == ("failed", "no final status from the carrier")


def test_callbacks_are_signed_and_retried_with_backoff(client, agent, provider, tuesday, sent):
    campaign = create(client, agent, config={**CONFIG, "callbackUrl": "https://crm.example/hooks/outdial"})
    cid = campaign["id"]
    add_contacts(cid, PHONES[:1], crmId="42")
    action(client, cid, "start")
    [call_id] = queued(sent)
    dial_and_end(client, call_id, "completed", CallDuration="12")
    dial_and_end(client, call_id, "completed", CallDuration="12")     # a repeated final callback adds nothing

    posts, answers = [], [500, ConnectionError("refused"), 204]

    def post(url, data, headers):
        posts.append((url, data, headers, clock.now()))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    container = get_container()
    sender = CallbackService(container.callback_deliveries, secret_for=lambda _: campaign["callbackSecret"],
                             post=post)
    assert sender.deliver_due() == {"delivered": 0, "retrying": 1, "failed": 0}
    assert sender.deliver_due() == {"delivered": 0, "retrying": 0, "failed": 0}   # backing off
    tuesday.advance(seconds=30)
    assert sender.deliver_due()["retrying"] == 1
    tuesday.advance(minutes=2)
    assert sender.deliver_due()["delivered"] == 1
    assert len(posts) == 3

    url, data, headers, sent_at = posts[-1]
    payload = json.loads(data)
    assert url == "https://crm.example/hooks/outdial"
    assert (payload["type"], payload["status"], payload["customData"], payload["attempts"]) == \
        ("campaign.contact.finished", "completed", {"crmId": "42"}, 1)
    assert payload["callResults"][0]["duration"] == 12
    assert headers["Outdial-Delivery"] == posts[0][2]["Outdial-Delivery"]   # one id across re-sends
    t, v1 = (part.split("=", 1)[1] for part in headers["Outdial-Signature"].split(","))
    assert int(t) == int(sent_at.timestamp())
    expected = hmac.new(campaign["callbackSecret"].encode(), f"{t}.".encode() + data, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(v1, expected)


def test_campaign_stats_use_the_calls_aggregation(client, agent, provider, tuesday, sent):
    campaign = create(client, agent)
    cid = campaign["id"]
    add_contacts(cid, PHONES)
    action(client, cid, "start")
    first, second = queued(sent)
    dial_and_end(client, first, "completed", CallDuration="30")
    dial_and_end(client, second, "busy")
    stats = body(client.http.get(f"/campaigns/{cid}/stats"))
    assert stats["contactsByStatus"] == {"completed": 1, "pending": 1, "calling": 1}
    assert stats["stats"]["contactsCompleted"] == 1 and stats["stats"]["callsPlaced"] == 2
    everything = body(client.http.get(f"/calls/stats?campaignId={cid}"))
    by_hour = stats["calls"].pop("callVolume")
    assert by_hour["byStatus"] == everything["callVolume"]["byStatus"] == {"completed": 1, "failed": 1, "initiated": 1}
    assert stats["calls"] == {k: v for k, v in everything.items() if k != "callVolume"}
    assert sum(by_hour["byHour"]) == 3 and by_hour["byHour"][12] == 3        # noon in New York
    assert client.http.get("/campaigns/cmp_missing/stats").status_code == 404
