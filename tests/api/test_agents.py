import json

import pytest

from tests.helpers import body, post_json


def test_create_applies_seed_defaults_and_normalises_numbers(client, agent):
    assert agent["id"].startswith("agt_")
    assert agent["fromNumber"] == "+14155550199"
    assert agent["config"]["callbackNumber"] == "+14155550123"
    assert agent["config"]["maxCallDuration"] == 600
    assert "{agentName}" in agent["config"]["outboundGreeting"]
    fetched = body(client.http.get(f"/agents/{agent['id']}"))
    assert fetched == agent


def test_validation_errors_name_the_field(client):
    cases = [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "A", "config": {"maxCallDuration": 30}}, "config.maxCallDuration"),
        ({"name": "A", "config": {"maxCallDuration": 4000}}, "config.maxCallDuration"),
        ({"name": "A", "fromNumber": "12"}, "fromNumber"),
        ({"name": "A", "colour": "blue"}, "colour"),
        ({"name": "A", "elevenlabs": {"agentId": 5}}, "elevenlabs.agentId"),
    ]
    for payload, field in cases:
        response = post_json(client, "/agents", payload)
        assert response.status_code == 422, payload
        assert body(response)["error"]["field"] == field, payload
        assert body(response)["error"]["code"] == "validation_error"


def test_unknown_agent_is_404(client):
    response = client.http.get("/agents/agt_missing")
    assert response.status_code == 404
    assert body(response)["error"]["code"] == "not_found"


def test_patch_changes_only_what_was_sent(client, agent):
    response = client.http.patch(f"/agents/{agent['id']}", headers={"content-type": "application/json"},
                                 body='{"config": {"maxCallDuration": 120}, "elevenlabs": {"agentId": "el_1"}}')
    assert response.status_code == 200, response.body
    updated = body(response)
    assert updated["config"]["maxCallDuration"] == 120
    assert updated["config"]["callbackNumber"] == "+14155550123"
    assert updated["elevenlabs"] == {"agentId": "el_1"}
    assert updated["name"] == "Ava"
    assert updated["updatedAt"] >= agent["updatedAt"]


@pytest.mark.parametrize("patch, field", [
    ({"config": {"maxCallDuration": 1}}, "config.maxCallDuration"),
    ({"config": {"maxCallDuration": None}}, "config.maxCallDuration"),
    ({"config": {"maxCallDuration": "600"}}, "config.maxCallDuration"),
    ({"config": {"voicemailMessage": None}}, "config.voicemailMessage"),
    ({"name": None}, "name"),
])
def test_patch_validates_and_leaves_the_agent_usable(client, agent, patch, field):
    response = client.http.patch(f"/agents/{agent['id']}", headers={"content-type": "application/json"},
                                 body=json.dumps(patch))
    assert response.status_code == 422
    assert body(response)["error"]["field"] == field
    assert body(client.http.get(f"/agents/{agent['id']}")) == agent


def test_null_clears_optional_settings(client, agent):
    response = client.http.patch(f"/agents/{agent['id']}", headers={"content-type": "application/json"},
                                 body='{"company": null, "config": {"callbackNumber": null}}')
    assert response.status_code == 200
    assert "company" not in body(response) and "callbackNumber" not in body(response)["config"]


def test_list_paginates_newest_first(client):
    ids = [body(post_json(client, "/agents", {"name": f"A{i}"}))["id"] for i in range(5)]
    page1 = body(client.http.get("/agents?limit=2"))
    page2 = body(client.http.get(f"/agents?limit=2&cursor={page1['nextCursor']}"))
    page3 = body(client.http.get(f"/agents?limit=2&cursor={page2['nextCursor']}"))
    listed = [a["id"] for p in (page1, page2, page3) for a in p["items"]]
    assert listed == list(reversed(ids))
    assert page3["nextCursor"] is None


def test_idempotency_key_on_create(client, db):
    first = post_json(client, "/agents", {"name": "Ava"}, headers={"Idempotency-Key": "agent-1"})
    again = post_json(client, "/agents", {"name": "Ava"}, headers={"Idempotency-Key": "agent-1"})
    assert first.status_code == again.status_code == 201
    assert body(first) == body(again) and again.headers.get("Idempotent-Replayed") == "true"
    assert db.agents.count_documents({}) == 1
    other = post_json(client, "/agents", {"name": "Bo"}, headers={"Idempotency-Key": "agent-1"})
    assert other.status_code == 422 and body(other)["error"]["field"] == "Idempotency-Key"
