"""Scheduled and recurring calls, calling hours, and the scheduler run."""
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib import clock
from chalicelib.container import get_container
from tests.helpers import body, post_json

UTC = timezone.utc


def schedule(client, agent, **fields):
    payload = {"to": "+14155552671", "agentId": agent["id"], **fields}
    response = post_json(client, "/calls", payload)
    assert response.status_code == 202, response.body
    return body(response)


def queued(sent):
    ids = [call_id for call_id, _ in sent]
    sent.clear()
    return ids


def at(frozen, when: datetime):
    frozen._now = when.astimezone(UTC)


def test_schedule_in_local_time_creates_call_and_schedule(client, agent, frozen_clock, sent):
    at(frozen_clock, datetime(2027, 1, 4, 12, 0, tzinfo=UTC))
    call = schedule(client, agent, scheduledFor="2027-01-05T10:00:00", timezone="America/Los_Angeles")
    assert call["scheduledFor"] == "2027-01-05T18:00:00Z" and call["scheduleId"].startswith("sch_")
    assert queued(sent) == []                  # not yet
    sched = body(client.http.get(f"/scheduled-calls/{call['scheduleId']}"))
    assert (sched["status"], sched["isPending"], sched["isRecurring"], sched["canCancel"]) == \
        ("pending", True, False, True)
    assert sched["callId"] == call["id"] and sched["nextRun"] == "2027-01-05T18:00:00Z"
    assert sched["localTime"] == "2027-01-05T10:00:00" and sched["timezone"] == "America/Los_Angeles"

    at(frozen_clock, datetime(2027, 1, 5, 17, 59, 30, tzinfo=UTC))
    assert get_container().scheduler.tick() == {"schedules": 1, "retries": 0, "dispatched": 1}
    assert queued(sent) == [call["id"]]
    events = body(client.http.get(f"/calls/{call['id']}"))["events"]
    assert events[-1]["eventType"] == "dispatched" and events[-1]["data"]["delaySeconds"] == 30
    assert body(client.http.get(f"/scheduled-calls/{call['scheduleId']}"))["status"] == "completed"


@pytest.mark.parametrize("local, instant, note", [
    ("2027-03-14T02:30:00", "2027-03-14T07:30:00Z", "nonexistent_local_time_shifted_forward"),   # spring forward
    ("2027-11-07T01:30:00", "2027-11-07T05:30:00Z", "ambiguous_local_time_first_occurrence"),    # fall back
])
def test_dst_gaps_and_overlaps_follow_the_documented_rule(client, agent, frozen_clock, local, instant, note):
    at(frozen_clock, datetime(2027, 1, 1, tzinfo=UTC))
    agent_24h(client, agent)
    call = schedule(client, agent, scheduledFor=local, timezone="America/New_York")
    assert call["scheduledFor"] == instant
    created = body(client.http.get(f"/calls/{call['id']}"))["events"][0]
    assert created["data"]["adjusted"] == note


@pytest.mark.parametrize("fields, field", [
    ({"scheduledFor": "2020-01-01T00:00:00Z"}, "scheduledFor"),
    ({"scheduledFor": "2027-01-05T10:00:00"}, "scheduledFor"),                 # no offset, no zone
    ({"scheduledFor": "2027-01-05T10:00:00", "timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": "Europe/Paris"}, "timezone"),
    ({"recurring": {"frequency": "daily"}}, "scheduledFor"),
    ({"scheduledFor": "2027-01-05T10:00:00Z", "recurring": {"frequency": "daily"}}, "timezone"),
    ({"scheduledFor": "2027-01-05T10:00:00Z", "timezone": "UTC", "recurring": {"frequency": "hourly"}},
     "recurring.frequency"),
    ({"businessHours": {"start": "8am", "end": "21:00"}}, "businessHours.start"),
    ({"businessHours": {"start": "08:00", "end": "21:00", "daysOfWeek": [7]}}, "businessHours.daysOfWeek"),
    ({"retryPolicy": {"reasons": ["invalid_number"]}}, "retryPolicy.reasons"),
    ({"scheduledFor": "2099-01-01T00:00:00Z"}, "scheduledFor"),
])
def test_bad_schedules_are_422_and_write_nothing(client, agent, frozen_clock, db, fields, field):
    at(frozen_clock, datetime(2026, 12, 1, tzinfo=UTC))
    response = post_json(client, "/calls", {"to": "+14155552671", "agentId": agent["id"], **fields})
    assert response.status_code == 422, response.body
    assert body(response)["error"]["field"] == field
    assert db.calls.count_documents({}) == 0 and db.scheduled_calls.count_documents({}) == 0


def agent_24h(client, agent):
    response = client.http.patch(f"/agents/{agent['id']}", headers={"content-type": "application/json"},
                                 body=json.dumps({"businessHours": {"start": "00:00", "end": "00:00"}}))
    assert response.status_code == 200, response.body


def run_series(client, frozen_clock, call, until: datetime, step=timedelta(hours=1)):
    """Run the scheduler every `step` until `until`; the dispatched occurrences' times."""
    container = get_container()
    times = []
    while clock.now() < until:
        container.scheduler.tick()
        frozen_clock.advance(seconds=step.total_seconds())
    for c in body(client.http.get("/calls?limit=100"))["items"]:
        if c.get("scheduleId") == call["scheduleId"]:
            times.append(c["scheduledFor"])
    return sorted(times)


def test_every_weekday_at_ten_in_kolkata(client, agent, frozen_clock):
    agent_24h(client, agent)
    at(frozen_clock, datetime(2027, 3, 1, tzinfo=UTC))    # a Monday
    call = schedule(client, agent, to="+91 98765 43210", scheduledFor="2027-03-04T10:00:00", timezone="Asia/Kolkata",
                    recurring={"frequency": "daily", "byWeekday": [1, 2, 3, 4, 5], "maxOccurrences": 5})
    times = run_series(client, frozen_clock, call, datetime(2027, 3, 12, tzinfo=UTC), step=timedelta(hours=6))
    # 10:00 IST is 04:30Z; Thursday, Friday, then Monday to Wednesday: the weekend is skipped.
    assert times == ["2027-03-04T04:30:00Z", "2027-03-05T04:30:00Z", "2027-03-08T04:30:00Z",
                     "2027-03-09T04:30:00Z", "2027-03-10T04:30:00Z"]
    assert body(client.http.get(f"/scheduled-calls/{call['scheduleId']}"))["status"] == "completed"


def test_monthly_on_the_31st_in_new_york_across_dst_and_short_months(client, agent, frozen_clock):
    agent_24h(client, agent)
    at(frozen_clock, datetime(2027, 1, 1, tzinfo=UTC))
    call = schedule(client, agent, scheduledFor="2027-01-31T09:00:00", timezone="America/New_York",
                    recurring={"frequency": "monthly", "endDate": "2027-05-01T00:00:00Z"})
    times = run_series(client, frozen_clock, call, datetime(2027, 5, 2, tzinfo=UTC), step=timedelta(hours=12))
    assert times == ["2027-01-31T14:00:00Z", "2027-02-28T14:00:00Z",      # EST: 09:00 = 14:00Z
                     "2027-03-31T13:00:00Z", "2027-04-30T13:00:00Z"]      # EDT: 09:00 = 13:00Z


def test_business_hours_with_days_of_week_skip_the_weekend(client, agent, frozen_clock, sent):
    at(frozen_clock, datetime(2027, 1, 8, 23, 0, tzinfo=UTC))   # Friday 15:00 in California
    hours = {"start": "09:00", "end": "17:00", "daysOfWeek": [1, 2, 3, 4, 5]}
    call = schedule(client, agent, scheduledFor="2027-01-09T01:30:00Z", businessHours=hours)   # Fri 17:30 PT
    container = get_container()
    frozen_clock.advance(hours=2, minutes=30)
    container.scheduler.tick()
    stored = body(client.http.get(f"/calls/{call['id']}"))
    assert stored["scheduledFor"] == "2027-01-11T17:00:00Z"      # Monday 09:00 PT
    assert stored["events"][-1]["eventType"] == "deferred"
    assert queued(sent) == []
    at(frozen_clock, datetime(2027, 1, 11, 16, 59, 30, tzinfo=UTC))
    assert container.scheduler.tick()["dispatched"] == 1
    assert queued(sent) == [call["id"]]


def test_immediate_call_outside_calling_hours_waits_for_the_morning(client, agent, frozen_clock, sent):
    at(frozen_clock, datetime(2027, 1, 12, 6, 0, tzinfo=UTC))   # 22:00 in California
    call = body(post_json(client, "/calls", {"to": "+14155552671", "agentId": agent["id"]}))
    assert call["scheduledFor"] == "2027-01-12T16:00:00Z"          # 08:00 PT, the default window
    assert queued(sent) == []


def test_a_number_spanning_several_zones_waits_until_all_of_them_allow(client, agent, frozen_clock, sent):
    # An Australian mobile may be anywhere from the Cocos Islands (+6:30) to Lord Howe (+11 in summer).
    at(frozen_clock, datetime(2027, 1, 12, 20, 0, tzinfo=UTC))   # 07:00 in Sydney, 02:30 on Cocos
    call = body(post_json(client, "/calls", {"to": "+61 412 345 678", "agentId": agent["id"]}))
    # The westernmost zone opens last: 08:00 on Cocos is 01:30Z (12:30 on Lord Howe, still allowed).
    assert call["scheduledFor"] == "2027-01-13T01:30:00Z"
    assert queued(sent) == []


def test_reschedule_and_cancel(client, agent, frozen_clock, sent):
    at(frozen_clock, datetime(2027, 1, 4, 12, 0, tzinfo=UTC))
    call = schedule(client, agent, scheduledFor="2027-01-06T18:00:00Z")
    sid = call["scheduleId"]
    response = client.http.patch(f"/scheduled-calls/{sid}", headers={"content-type": "application/json"},
                                 body='{"scheduledFor": "2027-01-07T19:00:00Z"}')
    assert response.status_code == 200, response.body
    assert body(response)["nextRun"] == "2027-01-07T19:00:00Z"
    assert body(client.http.get(f"/calls/{call['id']}"))["scheduledFor"] == "2027-01-07T19:00:00Z"

    listed = body(client.http.get("/scheduled-calls?status=pending"))["items"]
    assert [s["id"] for s in listed] == [sid]
    assert body(client.http.get("/scheduled-calls?from=2027-01-08T00:00:00Z"))["items"] == []

    response = client.http.post(f"/scheduled-calls/{sid}/cancel")
    assert response.status_code == 200 and body(response)["status"] == "cancelled"
    assert body(client.http.get(f"/calls/{call['id']}"))["status"] == "cancelled"
    assert client.http.post(f"/scheduled-calls/{sid}/cancel").status_code == 409
    assert client.http.patch(f"/scheduled-calls/{sid}", headers={"content-type": "application/json"},
                             body='{"scheduledFor": "2027-01-08T19:00:00Z"}').status_code == 409
    at(frozen_clock, datetime(2027, 1, 7, 19, 0, tzinfo=UTC))
    get_container().scheduler.tick()
    assert queued(sent) == []


def test_racing_scheduler_runs_send_each_call_once(client, agent, frozen_clock, sent):
    at(frozen_clock, datetime(2027, 1, 4, 12, 0, tzinfo=UTC))
    calls = [schedule(client, agent, to=f"+1415555{2600 + i}", scheduledFor="2027-01-05T18:00:00Z")
             for i in range(30)]
    at(frozen_clock, datetime(2027, 1, 5, 18, 0, tzinfo=UTC))
    container = get_container()
    results = []
    threads = [threading.Thread(target=lambda: results.append(container.scheduler.tick())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = queued(sent)
    assert sorted(sent) == sorted(c["id"] for c in calls)         # each exactly once
    assert sum(r["dispatched"] for r in results) == 30 and sum(r["schedules"] for r in results) == 30


def test_an_expired_lease_is_recovered_once(client, agent, frozen_clock, sent, db):
    at(frozen_clock, datetime(2027, 1, 4, 12, 0, tzinfo=UTC))
    call = schedule(client, agent, scheduledFor="2027-01-05T18:00:00Z", timezone="UTC",
                    recurring={"frequency": "daily", "maxOccurrences": 2})
    container = get_container()
    at(frozen_clock, datetime(2027, 1, 5, 18, 0, tzinfo=UTC))
    now = clock.now()
    held = container.schedules.claim(call["scheduleId"], horizon=now, now=now, lease_until=now + timedelta(minutes=2))
    assert held is not None                                        # ...and that run dies here
    assert container.scheduler.tick()["schedules"] == 0           # still leased
    frozen_clock.advance(minutes=3)
    assert container.scheduler.tick()["schedules"] == 1           # recovered
    assert container.scheduler.tick()["schedules"] == 0
    assert queued(sent) == [call["id"]]
    sched = body(client.http.get(f"/scheduled-calls/{call['scheduleId']}"))
    assert (sched["status"], sched["recurring"]["currentOccurrence"]) == ("pending", 2)
    assert sched["nextRun"] == "2027-01-06T18:00:00Z"
