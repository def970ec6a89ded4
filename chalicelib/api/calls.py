from __future__ import annotations

from chalice import Blueprint

from ..container import get_container
from ..errors import ValidationFailed
from ..models.call import CallCreate
from ..models.call_status import CallStatus
from ..phone import to_e164
from ..repositories.calls import CallFilter
from ..services.idempotency import check_key
from .http import api_errors, json_response, page_body, page_params, parse_body, query, query_datetime

bp = Blueprint(__name__)



@bp.route("/calls", methods=["POST"])
@api_errors
def create_call():
    request = bp.current_request
    key = check_key(request.headers.get("idempotency-key"))
    data = parse_body(request, CallCreate)
    created = get_container().call_service.create(data, idempotency_key=key)
    headers = {"Idempotent-Replayed": "true"} if created.replayed else None
    return json_response(created.call.to_api(), status=202, headers=headers)


@bp.route("/calls", methods=["GET"])
@api_errors
def list_calls():
    params = query(bp.current_request)
    limit, cursor = page_params(params)
    container = get_container()
    filters = CallFilter(
        direction=_choice(params, "direction", {"inbound", "outbound"}),
        status=_choice(params, "status", {s.value for s in CallStatus}),
        agent_id=params.get("agentId") or None,
        to=to_e164(params["to"], default_region=container.settings.default_region, field="to")
        if params.get("to") else None,
        created_from=query_datetime(params, "createdFrom"),
        created_to=query_datetime(params, "createdTo"),
    )
    page = container.call_service.list(filters, limit=limit, cursor=cursor)
    return json_response(page_body(page, lambda call: call.to_api()))


@bp.route("/calls/{call_id}", methods=["GET"])
@api_errors
def get_call(call_id):
    call, events = get_container().call_service.get(call_id)
    return json_response({**call.to_api(), "events": [event.to_api() for event in events]})


@bp.route("/calls/{call_id}/cancel", methods=["POST"])
@api_errors
def cancel_call(call_id):
    return json_response(get_container().call_service.cancel(call_id).to_api())


def _choice(params: dict[str, str], name: str, allowed: set[str]) -> str | None:
    value = params.get(name)
    if value is not None and value not in allowed:
        raise ValidationFailed(f"must be one of {', '.join(sorted(allowed))}", field=name)
    return value


@bp.route("/calls/{call_id}/retries", methods=["GET"])
@api_errors
def list_retries(call_id):
    call, attempts = get_container().retry_service.history(call_id)
    return json_response({"callId": call.id, "originalCallId": call.retry_of or call.id, "items": [
        {**attempt.to_api(), "retryCall": retry_call.to_api() if retry_call else None}
        for attempt, retry_call in attempts]})


@bp.route("/calls/{call_id}/retry", methods=["POST"])
@api_errors
def retry_call(call_id):
    container = get_container()
    attempt = container.retry_service.retry_now(call_id)
    # Due now: create and dispatch its call without waiting for the next scheduler run.
    attempt = container.scheduler.run_retry_now(attempt.id) or attempt
    return json_response(attempt.to_api(), status=202)


@bp.route("/calls/{call_id}/transcript", methods=["GET"])
@api_errors
def get_transcript(call_id):
    return json_response(get_container().conversation.transcript(call_id).to_api())


@bp.route("/calls/{call_id}/recording", methods=["GET"])
@api_errors
def get_recording(call_id):
    best, recordings, link = get_container().conversation.recording(call_id)
    return json_response({**best.to_api(), "downloadUrl": link, "recordings": [r.to_api() for r in recordings]})
