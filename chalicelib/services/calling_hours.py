"""When a call may be placed: the call's own window, else its agent's, else
the system default of 08:00-21:00 in the callee's local time (US TCPA)."""
from __future__ import annotations

from datetime import datetime

from .. import timing
from ..models.agent import Agent
from ..models.call import Call
from ..models.policy import BusinessHours

DEFAULT_HOURS = BusinessHours(start="08:00", end="21:00")


def window_for(call: Call, agent: Agent | None) -> timing.Window:
    hours = call.business_hours or (agent.business_hours if agent else None) or DEFAULT_HOURS
    return window_of(hours, call)


def window_of(hours: BusinessHours, call: Call) -> timing.Window:
    return timing.Window(
        start=timing.parse_hhmm(hours.start),
        end=timing.parse_hhmm(hours.end),
        days_of_week=frozenset(hours.days_of_week),
        timezones=(hours.timezone,) if hours.timezone else callee_zones(call),
    )


def callee_zones(call: Call) -> tuple[str, ...]:
    """The callee's zones: from the number itself, every zone its range may be
    in (the window must hold in all of them). Unknown: UTC."""
    return timing.zones_for_number(call.to) or ("UTC",)


def next_allowed(call: Call, agent: Agent | None, at: datetime) -> datetime | None:
    windows = [window_for(call, agent)]
    if call.campaign_hours:
        windows.append(window_of(call.campaign_hours, call))
    return timing.next_allowed_in_all(at, windows)
