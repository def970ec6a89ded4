"""Faults: the database going away, SQS redelivery and poison messages,
oversized and odd input. Nothing is lost, nothing is done twice, no 500."""
import json

import pytest

from chalicelib.container import get_container
from chalicelib.db import reset_client
from chalicelib.settings import reset_settings
from tests.api.test_calls import create_call
from tests.api.test_dial_worker import invoke, message
from tests.helpers import body, post_json


@pytest.fixture
def database_down(monkeypatch):
    """Point the app at a port where no MongoDB listens, then bring it back."""
    def down():
        monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300")
        monkeypatch.setenv("MONGODB_SERVER_SELECTION_TIMEOUT_MS", "300")
        _rewire()

    def up(uri):
        monkeypatch.setenv("MONGODB_URI", uri)
        monkeypatch.setenv("MONGODB_SERVER_SELECTION_TIMEOUT_MS", "2000")
        _rewire()
    return down, up


def _rewire():
    from chalicelib.container import Container, set_container

    previous = get_container()
    reset_settings()
    reset_client()
    container = Container()
    container._providers.update(previous._providers)
    container.dial_service._sleep = previous.dial_service._sleep
    set_container(container)


def test_database_down_is_503_with_retry_after(client, agent, database_down, app_env):
    down, up = database_down
    down()
    for method, path in [("GET", "/calls"), ("POST", "/calls"), ("GET", "/agents")]:
        response = client.http.request(method, path, headers={"content-type": "application/json"},
                                       body=json.dumps({"to": "+14155552671", "agentId": agent["id"]}))
        assert response.status_code == 503, (path, response.body)
        assert response.headers["Retry-After"]
        assert body(response)["error"]["code"] == "service_unavailable"
    up(app_env["MONGODB_URI"])
    assert client.http.get("/calls").status_code == 200


def test_a_dial_message_during_an_outage_is_redelivered_and_dialed_once(client, agent, provider, database_down,
                                                                         app_env):
    down, up = database_down
    call = create_call(client, agent)
    down()
    assert invoke(client, message(call)) == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
    up(app_env["MONGODB_URI"])
    assert invoke(client, message(call)) == {"batchItemFailures": []}
    assert invoke(client, message(call)) == {"batchItemFailures": []}
    assert len(provider.placed) == 1


def test_a_poison_message_lands_in_the_dead_letter_queue(sqs):
    """The redrive policy (maxReceiveCount) moves a message that keeps failing."""
    queue = sqs.get_queue_url(QueueName="outdial-dial")["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName="outdial-dial-dlq")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "0"})
    sqs.send_message(QueueUrl=queue, MessageBody="not json")
    for _ in range(4):      # received and never deleted: the handler reported it failed
        sqs.receive_message(QueueUrl=queue)
    [dead] = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"]
    assert dead["Body"] == "not json"
    assert int(dead["Attributes"]["ApproximateReceiveCount"]) >= 3


def test_oversized_bodies_are_413(client, agent, db):
    response = post_json(client, "/calls", {"to": "+14155552671", "agentId": agent["id"],
                                            "metadata": {"note": "x" * 300_000}})
    assert response.status_code == 413
    assert body(response)["error"]["code"] == "payload_too_large"
    assert db.calls.count_documents({}) == 0


def test_unicode_everywhere_is_fine(client):
    response = post_json(client, "/agents", {"name": "Zoë 🤖 Ågent — 東京", "company": "Ünïcode GmbH"})
    assert response.status_code == 201
    assert body(client.http.get(f"/agents/{body(response)['id']}"))["name"] == "Zoë 🤖 Ågent — 東京"


def test_a_bad_path_id_is_404_not_500(client):
    for path in ["/calls/%00", "/calls/" + "x" * 5000, "/agents/%F0%9F%A4%96", "/scheduled-calls/'%3B--"]:
        assert client.http.get(path).status_code == 404, path
