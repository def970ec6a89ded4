"""Who may call the API."""
import io
import json
from contextlib import redirect_stdout

import pytest

from chalicelib import clock
from tests.conftest import make_key
from tests.helpers import body


def call_as(client, key, method="GET", path="/calls", headers=None, payload=None):
    headers = dict(headers or {})
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    else:
        headers["authorization"] = ""
    if payload is not None:
        headers["content-type"] = "application/json"
    return client.http.request(method, path, headers=headers, body=json.dumps(payload) if payload else b"")


@pytest.mark.parametrize("presented", [None, "odk_not-a-real-key", "Basic dXNlcjpwYXNz"])
def test_missing_or_unknown_keys_are_401(client, presented):
    headers = {"authorization": presented} if presented and presented.startswith("Basic") else {}
    response = call_as(client, None if presented is None or presented.startswith("Basic") else presented,
                       headers=headers)
    assert response.status_code == 401
    assert body(response)["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_x_api_key_header_works(client):
    key = make_key("calls:read")
    response = client.http.request("GET", "/calls", headers={"x-api-key": key}, body=b"")
    assert response.status_code == 200


@pytest.mark.parametrize("scopes, method, path, status", [
    (["calls:read"], "GET", "/calls", 200),
    (["calls:read"], "POST", "/calls", 403),
    (["calls:read"], "GET", "/scheduled-calls", 200),
    (["calls:write"], "GET", "/calls", 403),
    (["agents:read"], "GET", "/agents", 200),
    (["agents:read"], "POST", "/agents", 403),
    (["calls:write", "calls:read"], "GET", "/agents", 403),
    (["admin"], "GET", "/agents", 200),
    (["calls:read"], "GET", "/calls/stats", 200),
    (["calls:read"], "GET", "/analytics", 200),
    (["agents:read"], "GET", "/analytics", 403),
])
def test_scopes(client, scopes, method, path, status):
    key = make_key(*scopes)
    response = call_as(client, key, method, path, payload={} if method == "POST" else None)
    if status == 200:
        assert response.status_code < 400, response.body
    else:
        assert response.status_code == status
        assert body(response)["error"]["code"] == "forbidden"


def test_revoked_keys_stop_working_and_use_is_recorded(client):
    from chalicelib.container import get_container

    service = get_container().api_key_service
    key, secret = service.create("ops", ["calls:read"])
    assert call_as(client, secret).status_code == 200
    [stored] = [k for k in service.list() if k.id == key.id]
    assert stored.last_used_at == clock.now()
    assert "keyHash" not in stored.to_api() and secret not in json.dumps(stored.to_api())
    assert service.revoke(key.id) and not service.revoke(key.id)
    assert call_as(client, secret).status_code == 401


def test_webhooks_and_health_need_no_key(client):
    assert call_as(client, None, path="/health").status_code == 200
    response = client.http.request("POST", "/webhooks/twilio/status/call_x", body=b"CallStatus=ringing",
                                   headers={"authorization": "", "content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 403          # refused by the carrier signature check, not by API keys
    assert body(response)["error"]["code"] == "invalid_signature"


def test_keys_are_stored_only_as_hashes(client, db):
    secret = make_key("admin")
    docs = list(db.api_keys.find())
    assert docs and all(secret not in json.dumps(d, default=str) for d in docs)


def test_the_apikeys_script(client):
    from scripts import apikeys

    out = io.StringIO()
    with redirect_stdout(out):
        assert apikeys.main(["create", "--name", "crm", "--scope", "calls:write", "--scope", "calls:read"]) == 0
    key_id = out.getvalue().split()[1]
    secret = out.getvalue().strip().splitlines()[-1].split()[-1]
    assert secret.startswith("odk_") and call_as(client, secret).status_code == 200
    out = io.StringIO()
    with redirect_stdout(out):
        assert apikeys.main(["list"]) == 0
        assert apikeys.main(["revoke", key_id]) == 0
    assert "crm" in out.getvalue() and secret not in out.getvalue()
    assert call_as(client, secret).status_code == 401
