"""Statistics and pre-aggregated analytics (read-only)."""
from __future__ import annotations

from datetime import timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalice import Blueprint

from .. import clock
from ..container import get_container
from ..errors import ValidationFailed
from ..repositories.call_stats import StatsFilter
from .http import api_errors, json_response, query, query_datetime

bp = Blueprint(__name__)

PERIOD_TYPES = ("daily", "weekly", "monthly")
DEFAULT_STATS_RANGE = timedelta(days=30)
DEFAULT_RANGE = {"daily": timedelta(days=31), "weekly": timedelta(weeks=13), "monthly": timedelta(days=366)}


@bp.route("/calls/stats", methods=["GET"])
@api_errors
def call_stats():
    params = query(bp.current_request)
    direction = params.get("direction")
    if direction is not None and direction not in ("inbound", "outbound"):
        raise ValidationFailed("must be one of inbound, outbound", field="direction")
    created_to = query_datetime(params, "to")
    created_from = query_datetime(params, "from")
    campaign_id, batch_id = params.get("campaignId") or None, params.get("batchId") or None
    if created_from is None and not (campaign_id or batch_id):
        # All-time statistics would read every call ever made: the default is the last 30 days.
        created_from = (created_to or clock.now()) - DEFAULT_STATS_RANGE
    _check_range(created_from, created_to)
    where = StatsFilter(created_from=created_from, created_to=created_to, agent_id=params.get("agentId") or None,
                        campaign_id=campaign_id, batch_id=batch_id, direction=direction)
    zone = _zone(params.get("timezone"))
    return json_response(get_container().call_stats.compute(where, hours_in=zone))


@bp.route("/analytics", methods=["GET"])
@api_errors
def analytics():
    params = query(bp.current_request)
    type_ = params.get("type", "daily")
    if type_ not in PERIOD_TYPES:
        raise ValidationFailed(f"must be one of {', '.join(PERIOD_TYPES)}", field="type")
    end = query_datetime(params, "to") or clock.now()
    start = query_datetime(params, "from") or end - DEFAULT_RANGE[type_]
    _check_range(start, end)
    zone = _zone(params.get("timezone"))
    items = get_container().analytics_service.list(type_, start, end, zone)
    return json_response({"type": type_, "from": start.isoformat(), "to": end.isoformat(),
                          "timezone": str(zone), "items": items})


def _check_range(start, end) -> None:
    if start is not None and end is not None and start >= end:
        raise ValidationFailed("must be after 'from'", field="to")


def _zone(name: str | None):
    if not name or name.upper() == "UTC":
        return timezone.utc
    try:
        if len(name) > 64 or ".." in name or name.startswith("/"):
            raise ValueError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed("must be an IANA time zone such as Asia/Kolkata", field="timezone") from None
