import pytest

from chalicelib.container import Container, set_container
from tests.helpers import FakeProvider, body, post_json


@pytest.fixture
def provider(app_env):
    """A recording carrier, wired in place of the configured one."""
    fake = FakeProvider()
    container = Container()
    container._providers["simulated"] = fake
    set_container(container)
    return fake


@pytest.fixture
def agent(client):
    response = post_json(client, "/agents", {"name": "Ava", "company": "Acme Dental", "fromNumber": "+1 415 555 0199",
                                             "config": {"callbackNumber": "(415) 555-0123"}})
    assert response.status_code == 201, response.body
    return body(response)


@pytest.fixture
def dial_queue_url(sqs):
    return sqs.get_queue_url(QueueName="outdial-dial")["QueueUrl"]


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
