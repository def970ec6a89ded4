"""MongoDB `$jsonSchema` validators derived from the pydantic models.

MongoDB speaks JSON Schema draft 4 with `bsonType` and without `$ref`,
`const`, `format` or `default`, so pydantic's schema is translated: references
inlined, dates (`format: date-time`) become `bsonType: date`, integers accept
int and long, `const` becomes a one-value `enum`, draft 2020's numeric
`exclusiveMinimum` becomes `minimum` + `exclusiveMinimum: true`, and the
model's `id` is the document's `_id`. Documents keep unknown fields
(the models ignore them), and `validationLevel: moderate` leaves existing
documents that do not match alone until they are next written.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pymongo.database import Database

VALIDATION_LEVEL = "moderate"
VALIDATION_ACTION = "error"

BSON_TYPES = {
    "string": "string", "integer": ["int", "long"], "number": ["double", "int", "long", "decimal"],
    "boolean": "bool", "array": "array", "object": "object", "null": "null",
}
KEPT = {"enum", "required", "minLength", "maxLength", "pattern", "minimum", "maximum", "minItems", "maxItems",
        "uniqueItems", "description", "minProperties", "maxProperties"}
# What MongoDB's $jsonSchema accepts (tests check derived schemas use nothing else).
MONGO_KEYWORDS = KEPT | {"bsonType", "properties", "additionalProperties", "items", "anyOf", "allOf", "oneOf",
                         "not", "exclusiveMinimum", "exclusiveMaximum", "title", "patternProperties",
                         "dependencies", "multipleOf"}


def mongo_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    defs = schema.pop("$defs", {})
    converted = _convert(schema, defs)
    properties = converted.setdefault("properties", {})
    if "id" in properties:
        properties["_id"] = properties.pop("id")
        converted["required"] = ["_id" if name == "id" else name for name in converted.get("required", [])]
    converted["bsonType"] = "object"
    return converted


def _convert(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        return _convert({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs)
    out: dict[str, Any] = {k: v for k, v in node.items() if k in KEPT}
    if "type" in node:
        out["bsonType"] = _bson_type(node["type"], node.get("format"))
    if "const" in node:
        out["enum"] = [node["const"]]
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node[bound], bool):
            out[flag] = node[bound]
            out[bound] = True
    for combinator in ("anyOf", "allOf", "oneOf"):
        if combinator in node:
            out[combinator] = [_convert(branch, defs) for branch in node[combinator]]
    if "properties" in node:
        out["properties"] = {name: _convert(sub, defs) for name, sub in node["properties"].items()}
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _convert(node["additionalProperties"], defs)
    elif isinstance(node.get("additionalProperties"), bool):
        out["additionalProperties"] = node["additionalProperties"]
    if isinstance(node.get("items"), dict):
        out["items"] = _convert(node["items"], defs)
    elif "prefixItems" in node:
        out["items"] = [_convert(item, defs) for item in node["prefixItems"]]
    return out


def _bson_type(json_type: str | list[str], fmt: str | None) -> str | list[str]:
    if isinstance(json_type, list):
        types: list[str] = []
        for t in json_type:
            mapped = _bson_type(t, fmt)
            types.extend(mapped if isinstance(mapped, list) else [mapped])
        return types
    if json_type == "string" and fmt in ("date-time", "date"):
        return "date"
    return BSON_TYPES[json_type]


def validator_options(model: type[BaseModel]) -> dict[str, Any]:
    return {"validator": {"$jsonSchema": mongo_json_schema(model)}, "validationLevel": VALIDATION_LEVEL,
            "validationAction": VALIDATION_ACTION}


def apply_validators(db: Database, models: dict[str, type[BaseModel]]) -> None:
    """Create each collection with its validator, or set it on an existing one."""
    existing = set(db.list_collection_names())
    for name, model in models.items():
        options = validator_options(model)
        if name in existing:
            db.command({"collMod": name, **options})
        else:
            db.create_collection(name, **options)


def remove_validators(db: Database, names: list[str]) -> None:
    existing = set(db.list_collection_names())
    for name in names:
        if name in existing:
            db.command({"collMod": name, "validator": {}, "validationLevel": "strict", "validationAction": "error"})
