"""The account's calls-per-second limit in the dialer, on the plain single-call path
(frozen clock: the dialer's waits are recorded, not slept)."""
from datetime import timedelta

from chalicelib.container import get_container
from tests.api.test_calls import create_call


def test_a_call_over_the_rate_is_put_back_and_sent_again_never_dropped(client, agent, provider, sent, db):
    calls = [create_call(client, agent, to=f"+1415555030{n}")["id"] for n in range(3)]
    dial = get_container().dial_service
    dial._sleep.pauses.clear()
    assert dial.dial(calls[0]) == "dialed"
    assert dial.dial(calls[1]) == "dialed"            # its instant is 1.05 s later: the dialer waited for it
    assert dial._sleep.pauses == [1.05]
    sent.clear()
    assert dial.dial(calls[2]) == "deferred"          # the next free instant is more than 2 s away
    stored = db.calls.find_one({"_id": calls[2]})
    assert stored["status"] == "initiated" and stored["dialAttempts"] == 0
    now = db.calls.find_one({"_id": calls[0]})["dialClaimedAt"]
    assert timedelta(seconds=2.1) <= stored["scheduledFor"] - now <= timedelta(seconds=4.1)
    assert sent == [(calls[2], int((stored["scheduledFor"] - now).total_seconds()))]   # back on the queue
    events = [e["eventType"] for e in db.call_events.find({"callId": calls[2]}).sort("timestamp", 1)]
    assert events[-2:] == ["paced", "dispatched"]
    assert len(provider.placed) == 2
