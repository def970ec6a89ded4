"""Per-agent and per-call policies: when a call may be placed, and how it is retried."""
from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from .base import CamelModel
from .call_status import FailureReason

HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")

RETRYABLE_REASONS = (FailureReason.NO_ANSWER, FailureReason.BUSY, FailureReason.VOICEMAIL,
                     FailureReason.NETWORK_ERROR, FailureReason.RATE_LIMITED, FailureReason.API_UNAVAILABLE)
NEVER_RETRIED = frozenset({FailureReason.INVALID_NUMBER, FailureReason.CANCELLED,
                           FailureReason.CONFIGURATION_ERROR, FailureReason.DO_NOT_CALL})


def check_timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


TimezoneName = Annotated[str, Field(max_length=64), AfterValidator(check_timezone)]


def check_hhmm(value: str) -> str:
    if not HHMM.match(value):
        raise ValueError("must be HH:MM (00:00-23:59)")
    return value


HourMinute = Annotated[str, AfterValidator(check_hhmm)]


class BusinessHours(CamelModel):
    """An allowed calling window (seed 000 ScheduledCall.businessHours). Without
    a timezone it is read in the callee's local time."""

    start: HourMinute = Field(description="HH:MM")
    end: HourMinute = Field(description="HH:MM; earlier than start means the window ends the next day")
    timezone: TimezoneName | None = None
    days_of_week: list[int] = Field(default_factory=lambda: list(range(7)), min_length=1, max_length=7,
                                    description="0=Sunday … 6=Saturday")

    @field_validator("days_of_week")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(not 0 <= day <= 6 for day in value):
            raise ValueError("days are 0 (Sunday) to 6 (Saturday)")
        return sorted(set(value))


class RetryPolicy(CamelModel):
    """Which failures are retried, how often, and after how long."""

    reasons: list[FailureReason] = Field(default_factory=lambda: list(RETRYABLE_REASONS))
    max_retries: int = Field(3, ge=0, le=10)
    intervals_minutes: list[int] = Field(default_factory=lambda: [5, 30, 120], min_length=1, max_length=10,
                                         description="wait before retry n (the last repeats)")
    jitter: float = Field(0.1, ge=0, le=0.5, description="± fraction of each interval, so retries spread out")

    @field_validator("reasons")
    @classmethod
    def _retryable(cls, value: list[FailureReason]) -> list[FailureReason]:
        refused = [r for r in value if r in NEVER_RETRIED]
        if refused:
            raise ValueError(f"{', '.join(refused)} is never retried")
        return value

    @field_validator("intervals_minutes")
    @classmethod
    def _intervals(cls, value: list[int]) -> list[int]:
        if any(not 1 <= minutes <= 7 * 24 * 60 for minutes in value):
            raise ValueError("each interval is 1 minute to 7 days")
        return value

    def interval_minutes(self, attempt: int) -> int:
        return self.intervals_minutes[min(attempt, len(self.intervals_minutes)) - 1]
