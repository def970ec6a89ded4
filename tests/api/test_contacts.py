"""Contacts: one per number, whatever format the number came in."""
import pytest

from tests.api.test_calls import create_call
from tests.helpers import body, post_json


def add(client, **fields):
    response = post_json(client, "/contacts", fields)
    assert response.status_code == 201, response.body
    return body(response)


def test_create_normalises_and_infers_the_time_zone(client):
    contact = add(client, phone="+44 7123 456789", name="Jo", email="jo@example.com", tags=["vip", "vip", " uk "],
                  customFields={"plan": "gold"})
    assert contact["id"].startswith("ctc_") and contact["phone"] == "+447123456789"
    assert contact["details"]["timezone"] == "Europe/London"
    assert contact["tags"] == ["uk", "vip"] and contact["customFields"] == {"plan": "gold"}
    assert contact["history"]["totalCalls"] == 0


def test_the_same_number_in_another_format_is_the_same_contact(client):
    add(client, phone="+44 7123 456789")
    response = post_json(client, "/contacts", {"phone": "+447123456789"})
    assert response.status_code == 409 and body(response)["error"]["field"] == "phone"


def test_a_number_spanning_zones_keeps_its_zone_unset_unless_given(client):
    assert "timezone" not in add(client, phone="+1 800 555 1234")["details"]
    given = add(client, phone="+61 412 345 678", details={"timezone": "Australia/Perth"})
    assert given["details"]["timezone"] == "Australia/Perth"


@pytest.mark.parametrize("fields, field", [
    ({"phone": "nope"}, "phone"), ({"phone": "+14155552671", "email": "not-an-email"}, "email"),
    ({"phone": "+14155552671", "details": {"timezone": "Nowhere/Land"}}, "details.timezone"),
    ({"phone": "+14155552671", "details": {"preferredCallTime": {"start": "9", "end": "17:00"}}},
     "details.preferredCallTime.start"),
    ({"phone": "+14155552671", "tags": [""]}, "tags"),
])
def test_bad_contacts_are_422(client, fields, field):
    response = post_json(client, "/contacts", fields)
    assert response.status_code == 422, response.body
    assert body(response)["error"]["field"] == field


def test_filters_update_delete_and_history(client, agent, provider):
    jo = add(client, phone="+14155552671", tags=["vip"], groups=["east"])
    add(client, phone="+14155552672", tags=["new"], groups=["east"])
    assert [c["id"] for c in body(client.http.get("/contacts?tag=vip"))["items"]] == [jo["id"]]
    assert len(body(client.http.get("/contacts?group=east"))["items"]) == 2
    assert [c["id"] for c in body(client.http.get("/contacts?phone=(415) 555-2671"))["items"]] == [jo["id"]]

    response = client.http.patch(f"/contacts/{jo['id']}", headers={"content-type": "application/json"},
                                 body='{"name": "Jo B", "tags": ["vip", "renewal"]}')
    assert response.status_code == 200 and body(response)["tags"] == ["renewal", "vip"]
    clash = client.http.patch(f"/contacts/{jo['id']}", headers={"content-type": "application/json"},
                              body='{"phone": "415-555-2672"}')
    assert clash.status_code == 409

    call = create_call(client, agent, to="+14155552671")
    history = body(client.http.get(f"/contacts/{jo['id']}/calls"))["items"]
    assert [c["id"] for c in history] == [call["id"]]

    assert client.http.delete(f"/contacts/{jo['id']}").status_code == 200
    assert client.http.get(f"/contacts/{jo['id']}").status_code == 404
