"""Shared fixtures: a real MongoDB wire-protocol server (the embedded one, or
MONGODB_URI when set), a fresh database per test, moto for AWS, and the
Chalice test client."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from pymongo import monitoring

from chalicelib import migrations
from chalicelib.container import set_container
from chalicelib.db import get_client, get_database, reset_client
from chalicelib.settings import reset_settings
from scripts.devstack import mongo
from tests.query_log import QUERY_LOG

# Every query the application issues during the run is recorded, so
# tests/schema/test_index_coverage.py can check each has an index (registered
# before any client exists: pymongo applies global listeners to new clients).
monitoring.register(QUERY_LOG)

ROOT = Path(__file__).resolve().parents[1]
AUTH_TOKEN = "test-auth-token"
ACCOUNT_SID = "AC" + "0" * 32
PUBLIC_BASE_URL = "https://api.outdial.test/api"


def pytest_collection_modifyitems(config, items):
    """The index-coverage check runs last, after every other test has issued its queries."""
    last = [item for item in items if item.get_closest_marker("after_all_tests")]
    items[:] = [item for item in items if item not in last] + last


def pytest_configure(config):
    config.addinivalue_line("markers", "after_all_tests: run after every other collected test")


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory):
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
        return
    port = mongo.free_port()
    process = mongo.start(tmp_path_factory.mktemp("mongo"), port)
    yield f"mongodb://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def app_env(mongo_uri, monkeypatch):
    """Environment for the app, with its own database; migrated."""
    db_name = f"t_{uuid.uuid4().hex[:12]}"
    values = {
        "MONGODB_URI": mongo_uri,
        "MONGODB_DB": db_name,
        "MONGODB_SERVER_SELECTION_TIMEOUT_MS": "2000",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TELEPHONY_PROVIDER": "simulated",
        "SIMULATOR_URL": "http://127.0.0.1:9",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": "+14155550100",
        "DEFAULT_REGION": "US",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SQS", raising=False)
    monkeypatch.delenv("DIAL_QUEUE_URL", raising=False)
    reset_settings()
    reset_client()
    set_container(None)
    migrations.up(get_database())
    yield values
    get_client().drop_database(db_name)
    reset_client()
    reset_settings()
    set_container(None)


@pytest.fixture
def db(app_env):
    return get_database()


@pytest.fixture
def sqs(app_env):
    """moto's SQS with the dial queue and its dead-letter queue."""
    from moto import mock_aws
    import boto3
    import json

    with mock_aws():
        client = boto3.client("sqs")
        dlq = client.create_queue(QueueName="outdial-dial-dlq")["QueueUrl"]
        dlq_arn = client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        client.create_queue(QueueName="outdial-dial", Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
        })
        yield client


class KeyedHTTP:
    """The Chalice test HTTP client, sending an API key with every request."""

    def __init__(self, http, key: str | None):
        self._http = http
        self.key = key

    def request(self, method, path, headers=None, body=b""):
        headers = dict(headers or {})
        if self.key and not any(h.lower() in ("authorization", "x-api-key") for h in headers):
            headers["authorization"] = f"Bearer {self.key}"
        return self._http.request(method, path, headers=headers, body=body)

    def __getattr__(self, method):
        return lambda path, **kwargs: self.request(method.upper(), path, **kwargs)


class KeyedClient:
    def __init__(self, client, key: str):
        self._client = client
        self.http = KeyedHTTP(client.http, key)
        self.lambda_ = client.lambda_
        self.events = client.events


def make_key(*scopes: str) -> str:
    from chalicelib.container import get_container
    from chalicelib.models.api_key import Scope

    _, secret = get_container().api_key_service.create("test", [Scope(s) for s in scopes])
    return secret


@pytest.fixture
def client(app_env, sqs):
    """The app through Chalice's test client, with an admin API key."""
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local", project_dir=str(ROOT)) as test_client:
        yield KeyedClient(test_client, make_key("admin"))
