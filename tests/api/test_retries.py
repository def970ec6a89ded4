"""The retry policy end to end: failures, retry attempts, the retry calls."""
from datetime import datetime, timezone

import pytest

from chalicelib import clock
from chalicelib.container import get_container
from tests.api.test_scheduling import at, queued
from tests.helpers import body, post_json, twilio_callback

UTC = timezone.utc
POLICY = {"maxRetries": 2, "intervalsMinutes": [10, 30], "jitter": 0}


def place(client, agent, **fields):
    response = post_json(client, "/calls", {"to": "+14155552671", "agentId": agent["id"], **fields})
    assert response.status_code == 202, response.body
    return body(response)


def dial_and_end(client, call_id, status, **extra):
    """The dialer places the call; the carrier reports it ending with `status`."""
    get_container().dial_service.dial(call_id)
    sid = body(client.http.get(f"/calls/{call_id}"))["providerCallSid"]
    assert twilio_callback(client, call_id, status, sid, **extra).status_code == 200
    return body(client.http.get(f"/calls/{call_id}"))


@pytest.fixture
def morning(frozen_clock):
    at(frozen_clock, datetime(2027, 1, 5, 17, 0, tzinfo=UTC))   # 09:00 in California
    return frozen_clock


def test_busy_then_no_answer_then_completed(client, agent, provider, morning, sent):
    root = place(client, agent, retryPolicy=POLICY)
    assert queued(sent) == [root["id"]]
    failed = dial_and_end(client, root["id"], "busy")
    assert failed["canRetry"] is True

    container = get_container()
    assert container.scheduler.tick() == {"schedules": 0, "retries": 0, "dispatched": 0}   # not due yet
    morning.advance(minutes=10)
    assert container.scheduler.tick() == {"schedules": 0, "retries": 1, "dispatched": 1}
    [first_retry] = queued(sent)
    assert first_retry == f"{root['id']}_r1"
    retry1 = dial_and_end(client, first_retry, "no-answer")
    assert (retry1["isRetry"], retry1["retryOf"], retry1["retryCount"]) == (True, root["id"], 1)

    morning.advance(minutes=30)
    container.scheduler.tick()
    [second_retry] = queued(sent)
    assert second_retry == f"{root['id']}_r2"
    done = dial_and_end(client, second_retry, "completed", CallDuration="20")
    assert done["status"] == "completed"

    original = body(client.http.get(f"/calls/{root['id']}"))
    assert original["metadata"]["successfulRetryId"] == second_retry
    history = body(client.http.get(f"/calls/{root['id']}/retries"))
    assert [(a["attemptNumber"], a["failureReason"], a["status"], a["retryCall"]["status"]) for a in history["items"]] \
        == [(1, "busy", "completed", "failed"), (2, "no_answer", "completed", "completed")]
    assert history["items"][0]["scheduledFor"] == "2027-01-05T17:10:00Z"
    # The same history is reachable from any call of the chain.
    assert body(client.http.get(f"/calls/{second_retry}/retries"))["items"] == history["items"]


def test_max_retries_reached(client, agent, provider, morning, sent):
    root = place(client, agent, retryPolicy={**POLICY, "maxRetries": 1})
    dial_and_end(client, root["id"], "busy")
    morning.advance(minutes=10)
    get_container().scheduler.tick()
    [retry] = queued(sent)[1:]
    final = dial_and_end(client, retry, "busy")
    assert final["canRetry"] is False
    original = body(client.http.get(f"/calls/{root['id']}"))
    assert original["metadata"]["maxRetriesReached"] is True
    morning.advance(hours=5)
    assert get_container().scheduler.tick()["retries"] == 0
    assert len(body(client.http.get(f"/calls/{root['id']}/retries"))["items"]) == 1


@pytest.mark.parametrize("status, extra", [("failed", {"SipResponseCode": "404"}), ("canceled", {})])
def test_invalid_numbers_and_cancellations_are_never_retried(client, agent, provider, morning, status, extra):
    root = place(client, agent, retryPolicy=POLICY)
    dial_and_end(client, root["id"], status, **extra)
    assert body(client.http.get(f"/calls/{root['id']}/retries"))["items"] == []


def test_reasons_outside_the_policy_are_not_retried(client, agent, provider, morning):
    root = place(client, agent, retryPolicy={**POLICY, "reasons": ["no_answer"]})
    dial_and_end(client, root["id"], "busy")
    assert body(client.http.get(f"/calls/{root['id']}/retries"))["items"] == []


def test_the_agents_policy_applies_when_the_call_has_none(client, agent, provider, morning):
    client.http.patch(f"/agents/{agent['id']}", headers={"content-type": "application/json"},
                      body='{"retryPolicy": {"maxRetries": 1, "intervalsMinutes": [45], "jitter": 0}}')
    root = place(client, agent)
    dial_and_end(client, root["id"], "no-answer")
    [attempt] = body(client.http.get(f"/calls/{root['id']}/retries"))["items"]
    assert attempt["scheduledFor"] == "2027-01-05T17:45:00Z"


def test_default_policy_has_jitter_within_bounds(client, agent, provider, morning):
    root = place(client, agent)
    dial_and_end(client, root["id"], "no-answer")
    [attempt] = body(client.http.get(f"/calls/{root['id']}/retries"))["items"]
    delay = datetime.fromisoformat(attempt["scheduledFor"]) - clock.now()
    assert 4.5 * 60 <= delay.total_seconds() <= 5.5 * 60      # 5 minutes ± 10 %


def test_a_duplicated_final_callback_schedules_one_retry(client, agent, provider, morning):
    root = place(client, agent, retryPolicy=POLICY)
    call = dial_and_end(client, root["id"], "busy")
    twilio_callback(client, root["id"], "busy", call["providerCallSid"])
    assert len(body(client.http.get(f"/calls/{root['id']}/retries"))["items"]) == 1


def test_manual_retry(client, agent, provider, morning, sent):
    root = place(client, agent, retryPolicy={**POLICY, "reasons": ["no_answer"]})
    queued(sent)
    dial_and_end(client, root["id"], "busy")              # not retried automatically
    response = client.http.post(f"/calls/{root['id']}/retry")
    assert response.status_code == 202, response.body
    attempt = body(response)
    assert (attempt["attemptNumber"], attempt["status"]) == (1, "completed")
    assert queued(sent) == [attempt["retryCallId"]]       # dialed right away
    assert client.http.post(f"/calls/{root['id']}/retry").status_code == 409     # already retried
    assert client.http.post(f"/calls/{attempt['retryCallId']}/retry").status_code == 409   # not failed yet


def test_cancelling_a_failed_call_cancels_its_pending_retries(client, agent, provider, morning, sent):
    root = place(client, agent, retryPolicy=POLICY)
    dial_and_end(client, root["id"], "busy")
    response = client.http.post(f"/calls/{root['id']}/cancel")
    assert response.status_code == 200 and body(response)["status"] == "failed"
    [attempt] = body(client.http.get(f"/calls/{root['id']}/retries"))["items"]
    assert attempt["status"] == "cancelled"
    morning.advance(hours=1)
    assert get_container().scheduler.tick()["retries"] == 0
