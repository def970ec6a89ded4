"""The SQS consumer, invoked as Lambda invokes it."""
import json

from chalicelib import clock
from chalicelib.container import get_container
from chalicelib.providers.base import InvalidNumber, OutcomeUnknown, RateLimited
from tests.api.test_calls import create_call
from tests.helpers import body


def sqs_event(client, *bodies):
    event = client.events.generate_sqs_event(message_bodies=list(bodies), queue_name="outdial-dial")
    for i, record in enumerate(event["Records"]):
        record["messageId"] = f"msg-{i}"        # the generator gives every record the same id
    return event


def invoke(client, *bodies):
    return client.lambda_.invoke("dial_worker", sqs_event(client, *bodies)).payload


def message(call):
    return json.dumps({"callId": call["id"]})


def test_dials_with_callback_urls_built_from_the_public_base_url(client, agent, provider):
    call = create_call(client, agent)
    assert invoke(client, message(call)) == {"batchItemFailures": []}
    [request] = provider.placed
    assert request.to == "+14155552671" and request.from_ == "+14155550199"
    assert request.status_callback_url == f"https://api.outdial.test/api/webhooks/twilio/status/{call['id']}"
    assert request.answer_url == f"https://api.outdial.test/api/twiml/{call['id']}"
    assert request.time_limit_seconds == 600
    stored = body(client.http.get(f"/calls/{call['id']}"))
    assert stored["providerCallSid"] and stored["provider"] == "simulated" and stored["initiatedAt"]
    assert [e["eventType"] for e in stored["events"]] == ["created", "dispatched", "dialed"]


def test_the_same_message_three_times_dials_once(client, agent, provider):
    call = create_call(client, agent)
    invoke(client, message(call), message(call))
    invoke(client, message(call))
    assert len(provider.placed) == 1


def test_a_poison_message_fails_alone(client, agent, provider):
    call = create_call(client, agent)
    result = invoke(client, "not json", json.dumps({"nope": 1}), message(call))
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-0"}, {"itemIdentifier": "msg-1"}]}
    assert len(provider.placed) == 1


def test_an_undialable_number_fails_the_call_without_retrying_the_message(client, agent, provider):
    provider.error = InvalidNumber("Twilio 400 error 21211", code=21211)
    call = create_call(client, agent)
    assert invoke(client, message(call)) == {"batchItemFailures": []}
    stored = body(client.http.get(f"/calls/{call['id']}"))
    assert (stored["status"], stored["failureReason"], stored["canRetry"]) == ("failed", "invalid_number", False)
    dial_failed = stored["events"][-1]
    assert dial_failed["eventType"] == "dial_failed" and dial_failed["data"]["code"] == 21211


def test_rate_limited_is_a_retryable_failure(client, agent, provider):
    provider.error = RateLimited("Twilio 429", code=20429)
    call = create_call(client, agent)
    invoke(client, message(call))
    stored = body(client.http.get(f"/calls/{call['id']}"))
    assert (stored["status"], stored["failureReason"], stored["canRetry"]) == ("failed", "rate_limited", True)


def test_a_timeout_after_the_carrier_placed_the_call_is_reconciled_not_redialed(client, agent, provider):
    provider.error = OutcomeUnknown("read timeout")
    provider.place_even_if_error = True          # the carrier did place it; its answer was lost
    call = create_call(client, agent)
    assert invoke(client, message(call)) == {"batchItemFailures": []}
    assert len(provider.placed) == 1
    stored = body(client.http.get(f"/calls/{call['id']}"))
    assert stored["providerCallSid"] == provider.calls_by_number["+14155552671"][0]
    assert [e["eventType"] for e in stored["events"]][-2:] == ["dial_outcome_unknown", "dialed"]


class FlakyCarrier:
    """Fails the first `failures` requests with `error`, then behaves."""

    def __init__(self, provider, error, failures):
        self.provider, self.error, self.failures = provider, error, failures

    def __call__(self, request):
        if self.failures:
            self.failures -= 1
            raise self.error


def test_carrier_5xx_is_retried_with_backoff(client, agent, provider):
    from chalicelib.providers.base import ProviderUnavailable

    provider.on_place = FlakyCarrier(provider, ProviderUnavailable("Twilio 503"), failures=2)
    call = create_call(client, agent)
    assert invoke(client, message(call)) == {"batchItemFailures": []}
    stored = body(client.http.get(f"/calls/{call['id']}"))
    assert stored["providerCallSid"] and len(provider.placed) == 1
    assert [e["eventType"] for e in stored["events"]][-3:] == ["dial_retry", "dial_retry", "dialed"]
    assert get_container().dial_service._sleep.pauses == [0.5, 2.0]


def test_carrier_down_for_good_fails_the_call_for_the_retry_policy(client, agent, provider):
    from chalicelib.providers.base import ProviderUnavailable

    provider.on_place = FlakyCarrier(provider, ProviderUnavailable("Twilio 503"), failures=3)
    call = create_call(client, agent)
    invoke(client, message(call))
    stored = body(client.http.get(f"/calls/{call['id']}"))
    assert (stored["status"], stored["failureReason"], stored["canRetry"]) == ("failed", "api_unavailable", True)
    assert provider.placed == []


def test_unknown_outcome_with_nothing_placed_keeps_the_claim_and_reconciles_later(client, agent, provider):
    provider.error = OutcomeUnknown("read timeout")
    call = create_call(client, agent)
    assert invoke(client, message(call)) == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
    assert provider.placed == []
    assert invoke(client, message(call)) == {"batchItemFailures": []}     # redelivered: the claim holds
    provider.error = None
    with clock.use(clock.FrozenClock(clock.now())) as frozen:
        frozen.advance(seconds=61)                                       # the claim expired
        invoke(client, message(call))
    assert len(provider.placed) == 1


def test_expired_claim_with_nothing_placed_dials_again(client, agent, provider):
    call = create_call(client, agent)
    now = clock.now()
    get_container().calls.claim_for_dial(call["id"], now=now, lease_until=now)   # a worker that died
    with clock.use(clock.FrozenClock(now)) as frozen:
        frozen.advance(seconds=1)
        invoke(client, message(call))
    assert len(provider.placed) == 1


def test_cancelled_while_dialing_hangs_up_at_the_carrier(client, agent, provider):
    call = create_call(client, agent)
    provider.on_place = lambda request: client.http.post(f"/calls/{call['id']}/cancel")
    invoke(client, message(call))
    stored = body(client.http.get(f"/calls/{call['id']}"))
    assert stored["status"] == "cancelled"
    assert provider.cancelled == [stored["providerCallSid"]]


def test_the_sweep_schedule_re_enqueues_lost_calls(client, agent, provider, sqs, dial_queue_url):
    from tests.api.conftest import drain

    call = create_call(client, agent)
    drain(sqs, dial_queue_url)                    # the message is lost
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=[])
    nothing = {"enqueued": 0, "chunksResent": 0, "slotsRecovered": 0}
    assert client.lambda_.invoke("sweep_undialed", event).payload == nothing
    with clock.use(clock.FrozenClock(clock.now())) as frozen:
        frozen.advance(minutes=3)
        assert client.lambda_.invoke("sweep_undialed", event).payload == {**nothing, "enqueued": 1}
        assert client.lambda_.invoke("sweep_undialed", event).payload == nothing   # not again so soon
    assert [json.loads(m["Body"])["callId"] for m in drain(sqs, dial_queue_url)] == [call["id"]]


def test_reconciliation_never_adopts_another_calls_carrier_call(client, agent, provider):
    first = create_call(client, agent)
    invoke(client, message(first))                        # dialed: same number, same caller ID
    second = create_call(client, agent)
    now = clock.now()
    get_container().calls.claim_for_dial(second["id"], now=now, lease_until=now)   # died before dialing
    with clock.use(clock.FrozenClock(now)) as frozen:
        frozen.advance(seconds=1)
        invoke(client, message(second))
    assert len(provider.placed) == 2
    sids = {body(client.http.get(f"/calls/{c['id']}"))["providerCallSid"] for c in (first, second)}
    assert len(sids) == 2


def test_a_call_whose_agent_is_gone_fails_once(client, agent, provider, db):
    call = create_call(client, agent)
    db.agents.delete_one({"_id": agent["id"]})
    assert invoke(client, message(call)) == {"batchItemFailures": []}
    stored = body(client.http.get(f"/calls/{call['id']}"))
    assert (stored["status"], stored["failureReason"], stored["canRetry"]) == ("failed", "configuration_error", False)
    assert provider.placed == []


def test_a_message_slightly_early_waits_for_the_calls_second(client, agent, provider, frozen_clock):
    from datetime import timedelta

    due = clock.now() + timedelta(minutes=10)
    call = body(client.http.post("/calls", headers={"content-type": "application/json"}, body=json.dumps(
        {"to": "+14155552671", "agentId": agent["id"], "scheduledFor": due.isoformat()})))
    container = get_container()
    slept = []
    container.dial_service._sleep = slept.append

    frozen_clock.advance(minutes=9, seconds=30)                     # 30 s early: put back to wait
    assert container.dial_service.dial(call["id"]) == "deferred"
    assert provider.placed == [] and slept == []
    assert body(client.http.get(f"/calls/{call['id']}"))["dialAttempts"] == 0

    frozen_clock.advance(seconds=28.5)                              # 1.5 s early: wait, then dial
    assert container.dial_service.dial(call["id"]) == "dialed"
    assert slept == [1.5] and len(provider.placed) == 1
