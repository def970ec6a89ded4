"""Reading "when" from a client: an instant with an offset, or a wall-clock
time in an IANA zone. Local time stops here; inside, it is UTC."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from .. import timing
from ..errors import ValidationFailed

MAX_AHEAD = timedelta(days=366)
PAST_TOLERANCE = timedelta(seconds=1)


@dataclass(frozen=True)
class When:
    instant: datetime        # aware UTC
    timezone: str            # the zone the client meant (recurrence follows its wall clock)
    local_time: str          # the same moment as wall-clock time there, ISO without offset
    note: str | None = None  # set when a DST gap or overlap decided the instant


def resolve_when(scheduled_for: datetime | None, zone: str | None, *, now: datetime,
                 required_zone: bool = False, field: str = "scheduledFor") -> When | None:
    if scheduled_for is None:
        if zone is not None:
            raise ValidationFailed("timezone only applies together with scheduledFor", field="timezone")
        return None
    if required_zone and zone is None:
        raise ValidationFailed("a recurring call needs a timezone (an IANA name such as America/New_York)",
                               field="timezone")
    if scheduled_for.tzinfo is None:
        if zone is None:
            raise ValidationFailed("give a UTC offset, or a local time together with timezone", field=field)
        instant, note = timing.resolve_local(scheduled_for, zone)
        local = scheduled_for
    else:
        zone = zone or "UTC"
        try:
            instant = scheduled_for.astimezone(timezone.utc)
        except OverflowError:
            raise ValidationFailed("out of range", field=field) from None
        local, note = instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None), None
    if instant < now - PAST_TOLERANCE:
        raise ValidationFailed("must be in the future", field=field)
    if instant > now + MAX_AHEAD:
        raise ValidationFailed("must be within a year", field=field)
    return When(instant=instant.replace(microsecond=instant.microsecond // 1000 * 1000), timezone=zone,
                local_time=local.isoformat(timespec="seconds"), note=note)
