"""Scheduled (and recurring) calls: seed 000 ScheduledCall."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, computed_field, field_validator, model_validator

from .base import CamelModel, Document, InputModel, UtcDatetime
from .free_form import FreeForm
from .policy import BusinessHours, TimezoneName


class ScheduleStatus(StrEnum):
    PENDING = "pending"          # waiting for its next run
    PROCESSING = "processing"    # a scheduler run holds it (leaseUntil)
    COMPLETED = "completed"      # every occurrence was dispatched
    CANCELLED = "cancelled"
    FAILED = "failed"


class RecurringInput(InputModel):
    frequency: Literal["daily", "weekly", "monthly"]
    interval: int = Field(1, ge=1, le=365)
    end_date: UtcDatetime | None = None
    max_occurrences: int | None = Field(None, ge=1, le=1000)
    by_weekday: list[int] | None = Field(None, min_length=1, max_length=7,
                                         description="0=Sunday … 6=Saturday, for daily/weekly rules")

    @field_validator("by_weekday")
    @classmethod
    def _days(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(not 0 <= day <= 6 for day in value):
            raise ValueError("days are 0 (Sunday) to 6 (Saturday)")
        return sorted(set(value)) if value else value

    @model_validator(mode="after")
    def _monthly_has_no_weekdays(self) -> "RecurringInput":
        if self.by_weekday and self.frequency == "monthly":
            raise ValueError("byWeekday applies to daily and weekly rules")
        return self


class Recurring(CamelModel):
    frequency: Literal["daily", "weekly", "monthly"]
    interval: int = 1
    end_date: UtcDatetime | None = None
    max_occurrences: int | None = None
    by_weekday: list[int] | None = None
    current_occurrence: int = 1


class ScheduledCall(Document):
    call_id: str                      # the call of the current occurrence
    to: str
    agent_id: str
    scheduled_for: UtcDatetime        # the first occurrence, as asked
    local_time: str                   # the same, as wall-clock time in `timezone` (recurrence follows it)
    timezone: str = "UTC"
    status: ScheduleStatus = ScheduleStatus.PENDING
    respect_business_hours: bool = False
    business_hours: BusinessHours | None = None
    recurring: Recurring | None = None
    metadata: dict = Field(default_factory=dict)
    next_run: UtcDatetime | None = None
    lease_until: UtcDatetime | None = None
    processed_at: UtcDatetime | None = None
    failed_at: UtcDatetime | None = None
    failure_reason: str | None = None

    _private_fields = frozenset({"lease_until"})

    @computed_field
    @property
    def is_pending(self) -> bool:
        return self.status == ScheduleStatus.PENDING

    @computed_field
    @property
    def is_recurring(self) -> bool:
        return self.recurring is not None

    @computed_field
    @property
    def can_cancel(self) -> bool:
        return self.status == ScheduleStatus.PENDING


class ScheduledCallUpdate(InputModel):
    """Reschedule a pending schedule (its next run, and for a recurring one,
    the series from then on)."""

    scheduled_for: datetime = Field(None)
    timezone: TimezoneName | None = None
    business_hours: BusinessHours | None = None
    metadata: FreeForm | None = None
