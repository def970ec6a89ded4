from datetime import datetime, timezone

import pytest

from chalicelib import clock
from chalicelib.container import Container, get_container, set_container
from tests.helpers import FakeProvider, body, post_json


# Today 18:00 UTC: 10:00 in California, 13:00 in New York, inside default
# calling hours, so tests about something else are not deferred to morning.
# (Today, because the database's TTL indexes judge age by the real clock.)
IN_HOURS = datetime.now(timezone.utc).replace(hour=18, minute=0, second=0, microsecond=0)


@pytest.fixture(autouse=True)
def frozen_clock():
    with clock.use(clock.FrozenClock(IN_HOURS)) as frozen:
        yield frozen


@pytest.fixture
def provider(app_env):
    """A recording carrier, wired in place of the configured one."""
    fake = FakeProvider()
    container = Container()
    container._providers["simulated"] = fake
    container.dial_service._sleep = RecordedSleep()   # tests do not wait out backoffs
    set_container(container)
    return fake


class RecordedSleep:
    def __init__(self):
        self.pauses = []

    def __call__(self, seconds):
        self.pauses.append(seconds)


@pytest.fixture
def agent(client):
    response = post_json(client, "/agents", {"name": "Ava", "company": "Acme Dental", "fromNumber": "+1 415 555 0199",
                                             "config": {"callbackNumber": "(415) 555-0123"}})
    assert response.status_code == 201, response.body
    return body(response)


@pytest.fixture
def dial_queue_url(sqs):
    return sqs.get_queue_url(QueueName="outdial-dial")["QueueUrl"]


@pytest.fixture
def sent(client):
    """Every dial message sent to SQS, as (callId, delaySeconds). SQS holds
    delayed messages back in real time, so the test reads what was sent."""
    queue = get_container().dial_queue
    record, real_send_many = [], queue.send_many

    def send_many(messages):
        failed = real_send_many(messages)
        record.extend(m for m in messages if m[0] not in failed)
        return failed

    queue.send_many = send_many
    return record


def drain(sqs, queue_url):
    """All messages waiting on a queue (deleting them)."""
    messages = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return messages
        for m in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        messages += batch
