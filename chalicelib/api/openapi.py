"""The OpenAPI 3.1 contract, generated from the pydantic models and the
table of operations below. tests/api/test_openapi.py fails when a route of
the app is missing here, and scripts/openapi.py writes docs/openapi.json."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from ..models.agent import Agent, AgentCreate, AgentUpdate
from ..models.batch import Batch, BatchCreate
from ..models.call import Call, CallCreate, CallEvent
from ..models.call_status import CallStatus
from ..models.campaign import Campaign, CampaignContact, CampaignCreate, CampaignStatus, CampaignUpdate, ContactStatus
from ..models.contact import Contact, ContactCreate, ContactUpdate
from ..models.conversation import Recording, Transcript
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
    json_webhook: bool = False          # a provider's signed JSON webhook
    content: dict | None = None         # a request body of several media types
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
RECORDING = {"allOf": [ref(Recording), {"type": "object", "properties": {
    "downloadUrl": {"type": ["string", "null"], "description": "short-lived for audio we keep in S3"},
    "recordings": {"type": "array", "items": ref(Recording)}}}]}
CONTACT_IMPORT_REPORT = {"type": "object", "properties": {
    "rowsTotal": {"type": "integer", "description": "data rows read (blank lines not counted)"},
    "accepted": {"type": "integer", "description": "rows that passed validation"},
    "added": {"type": "integer", "description": "contacts added to the campaign by this import"},
    "duplicatesMerged": {"type": "integer",
                         "description": "accepted rows whose number was earlier in the file or already in the campaign"},
    "doNotCall": {"type": "integer", "description": "numbers on the do-not-call list, added as skipped"},
    "contactsCreated": {"type": "integer", "description": "new entries in /contacts"},
    "rejectedCount": {"type": "integer"},
    "rejected": {"type": "array", "maxItems": 1000, "items": {"type": "object", "properties": {
        "row": {"type": "integer", "description": "spreadsheet row (header = 1); for JSON the 1-based array position"},
        "field": {"type": "string"}, "reason": {"type": "string"}}}}}}
CONTACT_IMPORT_BODY = {
    "text/csv": {"schema": {"type": "string", "description": "a header row with a 'phone' column; name and email "
                            "columns fill the contact, every other column becomes customData"}},
    "application/json": {"schema": {"type": "array", "maxItems": 100000, "items": {
        "type": "object", "required": ["phone"], "additionalProperties": True,
        "properties": {"phone": {"type": "string"}, "name": {"type": "string"}, "email": {"type": "string"},
                       "customData": {"type": "object"}}}}},
}
REGION = Param("region", {"type": "string", "minLength": 2, "maxLength": 2},
               "ISO region for numbers written without +country code (default DEFAULT_REGION)")
WEBHOOK_ACK = {"type": "object", "properties": {"callId": ID, "status": {"type": "string"}}}
COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
BATCH_CREATED = {"allOf": [ref(Batch), {"type": "object", "required": ["batchId"], "properties": {"batchId": ID}}]}
BATCH_PROGRESS = {"allOf": [ref(Batch), {"type": "object", "properties": {"progress": {
    "type": "object", "properties": {
        "size": {"type": "integer"}, "created": {"type": "integer", "description": "calls created so far (fan-out)"},
        "skipped": {"type": "integer"}, "finished": {"type": "integer"},
        "byStatus": {**COUNTS, "description": "first attempts by call status"},
        "retries": {**COUNTS, "description": "retry calls by status"}}}}}]}
BATCH_CANCELLED = {"allOf": [ref(Batch), {"type": "object", "properties": {
    "cancelledCalls": {"type": "integer"}, "cancelledRetries": {"type": "integer"}}}]}
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
    ("GET", "/calls/{call_id}/transcript"): Operation(
        "The conversation's transcript with its analysis", "calls", response=ref(Transcript),
        params=(path_id("call_id"),), errors=(401, 403, 404, 503)),
    ("GET", "/calls/{call_id}/recording"): Operation(
        "The call's recording (ours in S3 before the carrier's), a download link, and every recording",
        "calls", response=RECORDING, params=(path_id("call_id"),), errors=(401, 403, 404, 503)),
    ("POST", "/calls/batch"): Operation(
        "Call up to 10,000 recipients with one agent; any invalid row rejects the batch (422 invalid_rows lists "
        "each); do-not-call and repeated numbers are skipped", "batches", 202, BatchCreate, BATCH_CREATED,
        headers=(IDEMPOTENCY_KEY,)),
    ("GET", "/batches/{batch_id}"): Operation("A batch with its progress by call status", "batches",
                                              response=BATCH_PROGRESS, params=(path_id("batch_id"),),
                                              errors=(401, 403, 404, 503)),
    ("POST", "/batches/{batch_id}/pause"): Operation("Hold the batch's new dials (calls in progress finish)",
                                                     "batches", response=ref(Batch), params=(path_id("batch_id"),),
                                                     errors=(401, 403, 404, 409, 503)),
    ("POST", "/batches/{batch_id}/resume"): Operation("Resume a paused batch", "batches", response=ref(Batch),
                                                      params=(path_id("batch_id"),), errors=(401, 403, 404, 409, 503)),
    ("POST", "/batches/{batch_id}/cancel"): Operation(
        "Cancel the batch's calls not yet dialed and its pending retries (calls in progress finish)", "batches",
        response=BATCH_CANCELLED, params=(path_id("batch_id"),), errors=(401, 403, 404, 409, 503)),
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
    ("POST", "/campaigns"): Operation("Create a campaign (draft)", "campaigns", 201, CampaignCreate, ref(Campaign),
                                      headers=(IDEMPOTENCY_KEY,)),
    ("GET", "/campaigns"): Operation("List campaigns, newest first", "campaigns", response=page_of(Campaign),
                                     params=PAGE + (Param("status", {"enum": [s.value for s in CampaignStatus]}),)),
    ("GET", "/campaigns/{campaign_id}"): Operation("Read a campaign with its live stats", "campaigns",
                                                   response=ref(Campaign), params=(path_id("campaign_id"),),
                                                   errors=(401, 403, 404, 503)),
    ("PATCH", "/campaigns/{campaign_id}"): Operation(
        "Change a campaign (only while draft or paused)", "campaigns", 200, CampaignUpdate, ref(Campaign),
        params=(path_id("campaign_id"),), errors=(401, 403, 404, 409, 422, 503)),
    ("GET", "/campaigns/{campaign_id}/stats"): Operation(
        "The campaign's counters, contacts by status, and its calls' statistics (as GET /calls/stats; calls by "
        "hour in the campaign's time zone)", "campaigns",
        response={"type": "object", "required": ["campaignId", "stats", "contactsByStatus", "calls"], "properties": {
            "campaignId": ID, "status": {"enum": [s.value for s in CampaignStatus]},
            "stats": {"$ref": REF.format(model="CampaignStats")},
            "contactsByStatus": {"type": "object", "additionalProperties": {"type": "integer"}},
            "calls": {"type": "object"}}},
        params=(path_id("campaign_id"),), errors=(401, 403, 404, 503)),
    ("GET", "/campaigns/{campaign_id}/contacts"): Operation(
        "The campaign's contacts and their progress, newest first", "campaigns", response=page_of(CampaignContact),
        params=(path_id("campaign_id"),) + PAGE + (Param("status", {"enum": [s.value for s in ContactStatus]}),),
        errors=(401, 403, 404, 422, 503)),
    **{("POST", f"/campaigns/{{campaign_id}}/{action}"): Operation(
        summary, "campaigns", response=ref(Campaign), params=(path_id("campaign_id"),),
        errors=(401, 403, 404, 409, 503))
       for action, summary in (
           ("start", "Start a draft campaign (scheduled until its startDate)"),
           ("pause", "Stop new dials at once; calls in progress finish"),
           ("resume", "Resume a paused campaign"),
           ("cancel", "Cancel: undialed calls and pending contacts are cancelled; calls in progress finish"))},
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
    ("POST", "/campaigns/{campaign_id}/contacts/import"): Operation(
        "Add contacts to a campaign from CSV or a JSON array (at most 6 MB, 100,000 rows)", "campaigns",
        response=CONTACT_IMPORT_REPORT, content=CONTACT_IMPORT_BODY, params=(path_id("campaign_id"), REGION),
        errors=(400, 401, 403, 404, 409, 413, 415, 422, 503), headers=(IDEMPOTENCY_KEY,)),
    ("POST", "/campaigns/{campaign_id}/sheet/import"): Operation(
        "Add contacts to a campaign from its Google Sheet (sheetIntegration)", "campaigns",
        response=CONTACT_IMPORT_REPORT, params=(path_id("campaign_id"), REGION),
        errors=(401, 403, 404, 409, 413, 422, 503)),
    ("POST", "/campaigns/{campaign_id}/sheet/sync"): Operation(
        "Write every sheet contact's status to the sheet's statusColumn", "campaigns",
        response={"type": "object", "properties": {"written": {"type": "integer"}}},
        params=(path_id("campaign_id"),), errors=(401, 403, 404, 422, 503)),
    ("POST", "/webhooks/twilio/status/{call_id}"): Operation(
        "Twilio status callback (X-Twilio-Signature)", "webhooks", response=WEBHOOK_ACK,
        params=(path_id("call_id"),), security=False, form=True, errors=(403, 404, 415)),
    ("POST", "/webhooks/twilio/status"): Operation(
        "Twilio status callback for a call found by CallSid", "webhooks", response=WEBHOOK_ACK, security=False,
        form=True, errors=(403, 404, 415)),
    ("POST", "/webhooks/twilio/recording/{call_id}"): Operation(
        "Twilio recording status callback (X-Twilio-Signature)", "webhooks",
        response={"type": "object", "properties": {"callId": ID, "recordingSid": ID, "status": {"type": "string"}}},
        params=(path_id("call_id"),), security=False, form=True, errors=(403, 404, 415, 422)),
    ("POST", "/webhooks/exotel/{token}/status/{call_id}"): Operation(
        "Exotel status callback (unsigned: the path carries EXOTEL_WEBHOOK_TOKEN); form or JSON", "webhooks",
        response=WEBHOOK_ACK, params=(Param("token", ID, "EXOTEL_WEBHOOK_TOKEN", where="path"), path_id("call_id")),
        security=False, form=True, errors=(400, 403, 404, 415)),
    ("POST", "/webhooks/elevenlabs"): Operation(
        "ElevenLabs post-call webhook (ElevenLabs-Signature): transcription, audio, initiation failure",
        "webhooks", response={"type": "object", "properties": {"callId": ID, "status": {"type": "string"}}},
        security=False, json_webhook=True, errors=(400, 401, 413, 415, 422)),
    ("POST", "/twiml/{call_id}"): Operation(
        "The TwiML Twilio runs when the call is answered (signed)", "webhooks", security=False, form=True,
        params=(path_id("call_id"),), errors=(403, 404, 415)),
}

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}}}
REASONS = {400: "Malformed request", 413: "Request body too large",
           401: "No or unknown API key, or a bad ElevenLabs signature", 403: "Missing scope, or a bad carrier signature",
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
    models = sorted({Agent, AgentCreate, AgentUpdate, Batch, BatchCreate, Call, CallCreate, CallEvent, Campaign,
                     CampaignContact, CampaignCreate, CampaignUpdate, Contact, ContactCreate, ContactUpdate, DncCreate,
                     DncEntry, Recording, RetryAttempt, ScheduledCall, ScheduledCallUpdate, Transcript},
                    key=lambda m: m.__name__)
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
    if op.content:
        spec["requestBody"] = {"required": True, "content": op.content}
    elif op.csv:
        spec["requestBody"] = {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    elif op.json_webhook:
        spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
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
