"""The `$jsonSchema` validators derived from the models (migration 0009).

The embedded server neither stores nor enforces validators, so here the
derived schemas are checked with a JSON Schema validator against the documents
the app really stored; against a real MongoDB (MONGODB_URI set) the server
itself must accept those documents and refuse a malformed one."""
from __future__ import annotations

import os
from datetime import datetime, timedelta

import jsonschema
import pytest
from pymongo.errors import WriteError

from chalicelib import clock
from chalicelib.container import get_container
from chalicelib.migrations.validators import MONGO_KEYWORDS, VALIDATION_LEVEL, mongo_json_schema
from chalicelib.models.registry import COLLECTION_MODELS
from tests.api.test_calls import create_call
from tests.helpers import post_json

REAL_MONGODB = os.environ.get("MONGODB_URI")
TO_JSON_TYPE = {"int": "integer", "long": "integer", "double": "number", "decimal": "number", "bool": "boolean",
                "string": "string", "object": "object", "array": "array", "null": "null", "date": "date"}


def keywords(schema, found=None):
    found = set() if found is None else found
    for key, value in schema.items():
        if key == "properties":
            for sub in value.values():
                keywords(sub, found)
            continue
        found.add(key)
        if isinstance(value, dict):
            keywords(value, found)
        elif isinstance(value, list) and key in ("anyOf", "allOf", "oneOf", "items"):
            for sub in value:
                keywords(sub, found)
    return found


def as_json_schema(schema):
    """A MongoDB $jsonSchema as plain draft-4 JSON Schema (bsonType → type)."""
    if isinstance(schema, list):
        return [as_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "bsonType":
            types = value if isinstance(value, list) else [value]
            out["type"] = sorted({TO_JSON_TYPE[t] for t in types})
        elif key == "properties":
            out[key] = {name: as_json_schema(sub) for name, sub in value.items()}
        else:
            out[key] = as_json_schema(value)
    return out


CHECKER = jsonschema.Draft4Validator.TYPE_CHECKER.redefine_many({
    "date": lambda _, value: isinstance(value, datetime),
    "integer": lambda _, value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda _, value: isinstance(value, (int, float)) and not isinstance(value, bool),
})
Validator = jsonschema.validators.extend(jsonschema.Draft4Validator, type_checker=CHECKER)


@pytest.mark.parametrize("name", sorted(COLLECTION_MODELS))
def test_derived_schemas_use_only_what_mongodb_understands(name):
    schema = mongo_json_schema(COLLECTION_MODELS[name])
    assert schema["bsonType"] == "object" and "_id" in schema["required"]
    assert keywords(schema) <= MONGO_KEYWORDS, keywords(schema) - MONGO_KEYWORDS
    assert schema["properties"]["createdAt"] == {"bsonType": "date"}


@pytest.fixture
def stored(client, agent, provider, db):
    """Documents of every kind the app writes, through its own API and services."""
    call = create_call(client, agent, to="+14155552671")
    client.http.post(f"/calls/{call['id']}/cancel")
    post_json(client, "/contacts", {"phone": "+14155552672", "tags": ["vip"]})
    post_json(client, "/dnc", {"phone": "+14155552673"})
    tomorrow = (clock.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    scheduled = post_json(client, "/calls", {"to": "+14155552674", "agentId": agent["id"], "timezone": "UTC",
                                             "scheduledFor": tomorrow, "recurring": {"frequency": "daily"}})
    assert scheduled.status_code == 202, scheduled.body
    get_container().rollups.run_scheduled()
    return db


def test_documents_the_app_stores_satisfy_the_validators(stored):
    checked = set()
    for name, model in COLLECTION_MODELS.items():
        validator = Validator(as_json_schema(mongo_json_schema(model)))
        for doc in stored[name].find():
            errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
            assert not errors, (name, doc["_id"], errors)
            checked.add(name)
    assert {"agents", "calls", "call_events", "contacts", "dnc", "api_keys", "scheduled_calls", "analytics",
            "rollup_state"} <= checked


@pytest.mark.skipif(not REAL_MONGODB, reason="validators are enforced only by a real MongoDB: set MONGODB_URI "
                                              "(the embedded server accepts them but neither stores nor enforces them)")
def test_a_real_mongodb_enforces_the_validators(stored):
    for name in COLLECTION_MODELS:
        [info] = list(stored.list_collections(filter={"name": name}))
        assert info["options"]["validationLevel"] == VALIDATION_LEVEL
        assert "$jsonSchema" in info["options"]["validator"]
    with pytest.raises(WriteError) as refused:
        stored["calls"].insert_one({"_id": "call_bad", "to": 42, "agentId": "agt_x"})
    assert refused.value.code == 121
