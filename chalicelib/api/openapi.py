"""The OpenAPI 3.1 contract, generated from the pydantic models and the
table of operations below. tests/api/test_openapi.py fails when a route of
the app is missing here, and scripts/openapi.py writes docs/openapi.json."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from ..models.agent import Agent, AgentCreate, AgentUpdate
from ..models.call import Call, CallCreate, CallEvent
from ..models.call_status import CallStatus
from ..models.contact import Contact, ContactCreate, ContactUpdate
from ..models.dnc import DncCreate, DncEntry
from ..models.retry import RetryAttempt
from ..models.schedule import ScheduledCall, ScheduledCallUpdate, ScheduleStatus

REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict
    description: str = ""
    where: str = "query"


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    ok: int = 200
    request: type[BaseModel] | None = None
    response: dict | None = None       # a JSON schema (may reference components)
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = (401, 403, 422, 503)
    security: bool = True
    form: bool = False                  # a carrier webhook: form-encoded, signed
    csv: bool = False                   # a text/csv upload
    headers: tuple[Param, ...] = field(default=())


def ref(model: type[BaseModel]) -> dict:
    return {"$ref": REF.format(model=model.__name__)}


def page_of(model: type[BaseModel]) -> dict:
    return {"type": "object", "required": ["items", "nextCursor"],
            "properties": {"items": {"type": "array", "items": ref(model)},
                           "nextCursor": {"type": ["string", "null"]}}}


ID = {"type": "string", "minLength": 1}
DATE_TIME = {"type": "string", "format": "date-time"}
PAGE = (Param("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "page size (default 25)"),
        Param("cursor", {"type": "string", "maxLength": 256}, "nextCursor of the previous page"))
CALL_WITH_EVENTS = {"allOf": [ref(Call), {"type": "object", "properties": {
    "events": {"type": "array", "items": ref(CallEvent)}}}]}
RETRIES = {"type": "object", "properties": {
    "callId": ID, "originalCallId": ID,
    "items": {"type": "array", "items": {"allOf": [ref(RetryAttempt), {"type": "object", "properties": {
        "retryCall": {"anyOf": [ref(Call), {"type": "null"}]}}}]}}}}
HEALTH = {"type": "object", "properties": {"status": {"const": "ok"}}, "required": ["status"]}
IMPORT_REPORT = {"type": "object", "properties": {
    "rows": {"type": "integer"}, "added": {"type": "integer"}, "alreadyListed": {"type": "integer"},
    "rejected": {"type": "array", "items": {"type": "object", "properties": {
        "line": {"type": "integer"}, "phone": {"type": "string"}, "reason": {"type": "string"}}}}}}
WEBHOOK_ACK = {"type": "object", "properties": {"callId": ID, "status": {"type": "string"}}}
IDEMPOTENCY_KEY = Param("Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255},
                        "a replay with the same body returns what the first request created, never a second one; "
                        "the same key with another body is 422", where="header")


COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
CALL_STATS = {"type": "object", "required": ["callVolume", "duration", "outcomes", "retries", "cost"], "properties": {
    "callVolume": {"type": "object", "properties": {
        "total": {"type": "integer"}, "byStatus": COUNTS, "byOutcome": COUNTS, "byFailureReason": COUNTS,
        "byDirection": COUNTS,
        "byHour": {"type": "array", "items": {"type": "integer"}, "minItems": 24, "maxItems": 24},
        "byQuarterHour": {"type": "array", "items": {"type": "integer"}}}},
    "duration": {"type": "object", "properties": {
        "total": {"type": "integer"}, "count": {"type": "integer"}, "average": {"type": ["number", "null"]},
        "byStatus": {"type": "object"}}},
    "outcomes": {"type": "object", "properties": {
        "calls": {"type": "integer"}, "dialed": {"type": "integer"}, "answered": {"type": "integer"},
        "voicemail": {"type": "integer"}, "completed": {"type": "integer"}, "answerRate": RATE,
        "voicemailRate": RATE}},
    "retries": {"type": "object", "properties": {
        "chains": {"type": "integer"}, "succeeded": {"type": "integer"}, "successRate": RATE}},
    "cost": {"type": "object", "additionalProperties": {"type": "number"}, "description": "total per currency"}}}
ANALYTICS = {"type": "object", "required": ["type", "items"], "properties": {
    "type": {"enum": ["daily", "weekly", "monthly"]}, "from": DATE_TIME, "to": DATE_TIME,
    "timezone": {"type": "string"},
    "items": {"type": "array", "items": {"allOf": [CALL_STATS, {"type": "object", "properties": {
        "id": ID, "type": {"type": "string"}, "date": DATE_TIME, "periodEnd": DATE_TIME,
        "timezone": {"type": "string"}, "campaigns": {"type": "object"},
        "conversationAnalysis": {"type": "object"}}}]}}}}
STATS_FILTERS = (Param("from", DATE_TIME, "calls created at or after (default: 30 days before 'to', unless "
                                         "campaignId or batchId is given)"), Param("to", DATE_TIME, "calls created before"),
                 Param("agentId", ID), Param("campaignId", ID), Param("batchId", ID),
                 Param("direction", {"enum": ["inbound", "outbound"]}),
                 Param("timezone", {"type": "string"}, "IANA zone for callVolume.byHour (default UTC)"))


def path_id(name: str) -> Param:
    return Param(name, ID, where="path")


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/health"): Operation("Liveness, including the database", "system", response=HEALTH,
                                  security=False, errors=(503,)),
    ("GET", "/openapi.json"): Operation("This document", "system", response={"type": "object"}, security=False,
                                        errors=()),
    ("POST", "/agents"): Operation("Create an agent", "agents", 201, AgentCreate, ref(Agent),
                                   headers=(IDEMPOTENCY_KEY,)),
    ("GET", "/agents"): Operation("List agents, newest first", "agents", response=page_of(Agent), params=PAGE),
    ("GET", "/agents/{agent_id}"): Operation("Read an agent", "agents", response=ref(Agent),
                                             params=(path_id("agent_id"),), errors=(401, 403, 404, 503)),
    ("PATCH", "/agents/{agent_id}"): Operation("Change an agent", "agents", 200, AgentUpdate, ref(Agent),
                                               params=(path_id("agent_id"),), errors=(401, 403, 404, 422, 503)),
    ("POST", "/calls"): Operation("Place (or schedule) a call", "calls", 202, CallCreate, ref(Call),
                                  headers=(IDEMPOTENCY_KEY,)),
    ("GET", "/calls"): Operation("List calls, newest first", "calls", response=page_of(Call), params=PAGE + (
        Param("direction", {"enum": ["inbound", "outbound"]}),
        Param("status", {"enum": [s.value for s in CallStatus]}),
        Param("agentId", ID), Param("to", {"type": "string"}, "any format; normalised to E.164"),
        Param("createdFrom", DATE_TIME), Param("createdTo", DATE_TIME))),
    ("GET", "/calls/stats"): Operation("Call statistics: counts by status and outcome, durations, answer, voicemail "
                                       "and retry success rates, cost", "analytics", response=CALL_STATS,
                                       params=STATS_FILTERS),
    ("GET", "/analytics"): Operation(
        "Pre-aggregated daily, weekly or monthly analytics (calls by hour in the requested time zone)", "analytics",
        response=ANALYTICS, params=(
            Param("type", {"enum": ["daily", "weekly", "monthly"]}, "default daily"),
            Param("from", DATE_TIME, "periods starting at or after (default: a month, quarter or year before 'to')"),
            Param("to", DATE_TIME, "periods starting before (default now)"),
            Param("timezone", {"type": "string"}, "IANA zone for callVolume.byHour (default UTC)"))),
    ("GET", "/calls/{call_id}"): Operation("Read a call with its events", "calls", response=CALL_WITH_EVENTS,
                                           params=(path_id("call_id"),), errors=(401, 403, 404, 503)),
    ("POST", "/calls/{call_id}/cancel"): Operation(
        "Cancel a call that is not answered yet (or a failed call's pending retries)", "calls", response=ref(Call),
        params=(path_id("call_id"),), errors=(401, 403, 404, 409, 503)),
    ("GET", "/calls/{call_id}/retries"): Operation("The retry history of a call's chain", "calls", response=RETRIES,
                                                   params=(path_id("call_id"),), errors=(401, 403, 404, 503)),
    ("POST", "/calls/{call_id}/retry"): Operation("Retry a failed call now", "calls", 202, response=ref(RetryAttempt),
                                                  params=(path_id("call_id"),), errors=(401, 403, 404, 409, 503)),
    ("GET", "/scheduled-calls"): Operation("List scheduled calls", "scheduled calls", response=page_of(ScheduledCall),
                                           params=PAGE + (Param("status", {"enum": [s.value for s in ScheduleStatus]}),
                                                          Param("agentId", ID), Param("from", DATE_TIME),
                                                          Param("to", DATE_TIME))),
    ("GET", "/scheduled-calls/{schedule_id}"): Operation("Read a scheduled call", "scheduled calls",
                                                         response=ref(ScheduledCall), params=(path_id("schedule_id"),),
                                                         errors=(401, 403, 404, 503)),
    ("PATCH", "/scheduled-calls/{schedule_id}"): Operation(
        "Reschedule a pending scheduled call", "scheduled calls", 200, ScheduledCallUpdate, ref(ScheduledCall),
        params=(path_id("schedule_id"),), errors=(401, 403, 404, 409, 422, 503)),
    ("POST", "/scheduled-calls/{schedule_id}/cancel"): Operation(
        "Cancel a pending scheduled call", "scheduled calls", response=ref(ScheduledCall),
        params=(path_id("schedule_id"),), errors=(401, 403, 404, 409, 503)),
    ("POST", "/contacts"): Operation("Create a contact (one per number)", "contacts", 201, ContactCreate,
                                     ref(Contact), errors=(401, 403, 409, 422, 503)),
    ("GET", "/contacts"): Operation("List contacts, newest first", "contacts", response=page_of(Contact),
                                    params=PAGE + (Param("tag", {"type": "string"}), Param("group", {"type": "string"}),
                                                   Param("phone", {"type": "string"}, "any format"))),
    ("GET", "/contacts/{contact_id}"): Operation("Read a contact", "contacts", response=ref(Contact),
                                                 params=(path_id("contact_id"),), errors=(401, 403, 404, 503)),
    ("PATCH", "/contacts/{contact_id}"): Operation("Change a contact", "contacts", 200, ContactUpdate, ref(Contact),
                                                   params=(path_id("contact_id"),),
                                                   errors=(401, 403, 404, 409, 422, 503)),
    ("DELETE", "/contacts/{contact_id}"): Operation(
        "Delete a contact", "contacts", response={"type": "object", "properties": {"deleted": {"const": True}}},
        params=(path_id("contact_id"),), errors=(401, 403, 404, 503)),
    ("GET", "/contacts/{contact_id}/calls"): Operation("The contact's calls, newest first", "contacts",
                                                       response=page_of(Call), params=(path_id("contact_id"),) + PAGE,
                                                       errors=(401, 403, 404, 422, 503)),
    ("POST", "/dnc"): Operation("Put a number on the do-not-call list (200 if it already was)", "do not call", 201,
                                DncCreate, ref(DncEntry)),
    ("GET", "/dnc"): Operation("The do-not-call list, newest first", "do not call", response=page_of(DncEntry),
                               params=PAGE),
    ("DELETE", "/dnc/{phone}"): Operation("Take a number off the list", "do not call",
                                          response={"type": "object", "properties": {"removed": {"const": True}}},
                                          params=(Param("phone", ID, "URL-encoded, any format", where="path"),),
                                          errors=(401, 403, 404, 422, 503)),
    ("POST", "/dnc/import"): Operation("Import numbers from a CSV with a 'phone' column", "do not call",
                                       response=IMPORT_REPORT, csv=True, errors=(400, 401, 403, 413, 415, 422, 503)),
    ("POST", "/webhooks/twilio/status/{call_id}"): Operation(
        "Twilio status callback (X-Twilio-Signature)", "webhooks", response=WEBHOOK_ACK,
        params=(path_id("call_id"),), security=False, form=True, errors=(403, 404, 415)),
    ("POST", "/webhooks/twilio/status"): Operation(
        "Twilio status callback for a call found by CallSid", "webhooks", response=WEBHOOK_ACK, security=False,
        form=True, errors=(403, 404, 415)),
    ("POST", "/twiml/{call_id}"): Operation(
        "The TwiML Twilio runs when the call is answered (signed)", "webhooks", security=False, form=True,
        params=(path_id("call_id"),), errors=(403, 404, 415)),
}

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}}}
REASONS = {400: "Malformed request", 413: "Request body too large", 401: "No or unknown API key", 403: "Missing scope, or a bad carrier signature",
           404: "Unknown id", 409: "Not allowed in the current state", 415: "Unsupported content type",
           422: "Invalid field (named in error.field)", 503: "Database unavailable (Retry-After)"}


class _ContractSchema(GenerateJsonSchema):
    """Optional request fields that refuse null (omitted means "keep") have a
    Python default of None; the contract must not advertise null as their default."""

    def default_schema(self, schema):
        json_schema = super().default_schema(schema)
        if "default" in json_schema and json_schema["default"] is None and not _allows_null(json_schema):
            json_schema.pop("default")
        return json_schema


def _allows_null(json_schema: dict) -> bool:
    kinds = json_schema.get("type")
    return ("null" in kinds if isinstance(kinds, list) else kinds == "null") or any(
        option.get("type") == "null" for option in json_schema.get("anyOf", []))


def build() -> dict[str, Any]:
    models = sorted({Agent, AgentCreate, AgentUpdate, Call, CallCreate, CallEvent, Contact, ContactCreate, ContactUpdate,
                     DncCreate, DncEntry, RetryAttempt, ScheduledCall, ScheduledCallUpdate}, key=lambda m: m.__name__)
    _, schemas = models_json_schema(
        [(m, "validation" if m.__name__.endswith(("Create", "Update")) else "serialization") for m in models],
        by_alias=True, ref_template=REF, schema_generator=_ContractSchema)
    paths: dict[str, dict] = {}
    for (method, path), op in OPERATIONS.items():
        paths.setdefault(path, {})[method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "outdial", "version": "1.0.0",
                 "description": "Outbound phone calls placed by AI voice agents."},
        "servers": [{"url": "/"}],
        "components": {
            "schemas": {**schemas.get("$defs", {}), "Error": ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
        },
        "paths": paths,
    }


def _operation(op: Operation) -> dict:
    spec: dict[str, Any] = {"summary": op.summary, "tags": [op.tag],
                            "parameters": [_param(p) for p in op.params + op.headers],
                            "responses": {}}
    if op.csv:
        spec["requestBody"] = {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    elif op.form:
        spec["requestBody"] = {"required": True, "content": {"application/x-www-form-urlencoded": {
            "schema": {"type": "object", "additionalProperties": {"type": "string"}}}}}
    elif op.request is not None:
        spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(op.request)}}}
    if op.form and op.response is None:
        spec["responses"][str(op.ok)] = {"description": "TwiML", "content": {"application/xml": {
            "schema": {"type": "string"}}}}
    else:
        spec["responses"][str(op.ok)] = {"description": "OK", "content": {"application/json": {
            "schema": op.response or {}}}}
    errors = set(op.errors) | ({400, 413, 415} if op.request is not None else set())
    for status in sorted(errors):
        spec["responses"][str(status)] = {"description": REASONS[status], "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}}}}
    spec["security"] = [{"bearer": []}, {"apiKey": []}] if op.security else []
    return spec


def _param(param: Param) -> dict:
    spec = {"name": param.name, "in": param.where, "required": param.where == "path", "schema": param.schema}
    if param.description:
        spec["description"] = param.description
    return spec
