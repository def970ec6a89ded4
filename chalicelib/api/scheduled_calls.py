from __future__ import annotations

from chalice import Blueprint

from .. import clock
from ..container import get_container
from ..errors import ValidationFailed
from ..models.schedule import ScheduledCallUpdate, ScheduleStatus
from ..repositories.schedules import ScheduleFilter
from ..services.when import resolve_when
from .http import api_errors, json_response, page_body, page_params, parse_body, query, query_datetime

bp = Blueprint(__name__)


@bp.route("/scheduled-calls", methods=["GET"])
@api_errors
def list_scheduled_calls():
    params = query(bp.current_request)
    limit, cursor = page_params(params)
    status = params.get("status")
    if status is not None and status not in {s.value for s in ScheduleStatus}:
        raise ValidationFailed(f"must be one of {', '.join(s.value for s in ScheduleStatus)}", field="status")
    filters = ScheduleFilter(status=status, agent_id=params.get("agentId") or None,
                             scheduled_from=query_datetime(params, "from"), scheduled_to=query_datetime(params, "to"))
    page = get_container().schedule_service.list(filters, limit=limit, cursor=cursor)
    return json_response(page_body(page, lambda schedule: schedule.to_api()))


@bp.route("/scheduled-calls/{schedule_id}", methods=["GET"])
@api_errors
def get_scheduled_call(schedule_id):
    return json_response(get_container().schedule_service.get(schedule_id).to_api())


@bp.route("/scheduled-calls/{schedule_id}", methods=["PATCH"])
@api_errors
def reschedule(schedule_id):
    data = parse_body(bp.current_request, ScheduledCallUpdate)
    service = get_container().schedule_service
    schedule = service.get(schedule_id)
    when = None
    if data.scheduled_for is not None:
        # A recurring series keeps following its zone's wall clock.
        when = resolve_when(data.scheduled_for, data.timezone or schedule.timezone, now=clock.now())
    elif data.timezone is not None:
        raise ValidationFailed("timezone only applies together with scheduledFor", field="timezone")
    return json_response(service.reschedule(schedule_id, data, when).to_api())


@bp.route("/scheduled-calls/{schedule_id}/cancel", methods=["POST"])
@api_errors
def cancel_scheduled_call(schedule_id):
    return json_response(get_container().schedule_service.cancel(schedule_id).to_api())
