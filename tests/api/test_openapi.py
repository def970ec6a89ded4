"""The contract: complete, valid, current, and what the API really answers."""
from openapi_spec_validator import validate

from app import app
from chalicelib.api.openapi import OPERATIONS, build
from scripts.openapi import ROOT, render
from tests.helpers import body


def test_every_route_is_documented_and_nothing_else():
    routes = {(method, path) for path, methods in app.routes.items() for method in methods}
    assert routes == set(OPERATIONS)


def test_the_document_is_valid_openapi_3_1():
    document = build()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_the_checked_in_copy_is_current():
    assert (ROOT / "docs" / "openapi.json").read_text() == render(), "run: python scripts/openapi.py"


def test_served_without_a_key(client):
    response = client.http.request("GET", "/openapi.json", headers={"authorization": ""}, body=b"")
    assert response.status_code == 200
    assert body(response)["paths"].keys() == build()["paths"].keys()


def test_the_contract_says_which_routes_need_a_key_as_the_middleware_does():
    from chalicelib.api.auth import required_scope

    for (method, path), operation in OPERATIONS.items():
        assert operation.security is (required_scope(method, path) is not None), path
