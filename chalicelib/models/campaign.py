"""Campaigns (seed 002): one agent calling a list of contacts, within allowed
hours, under a concurrency limit, with its own retry rules.

Both lifecycles are explicit tables: a change that is not in the table is a
409 at the API and a no-op in the runner.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AnyHttpUrl, Field, TypeAdapter, computed_field, field_validator, model_validator

from .base import CamelModel, Document, InputModel, UtcDatetime
from .call_status import FailureReason
from .free_form import FreeForm
from .policy import NEVER_RETRIED, HourMinute, TimezoneName

_HTTP_URL = TypeAdapter(AnyHttpUrl)


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"     # started, waiting for startDate
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


C = CampaignStatus
CAMPAIGN_TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    C.DRAFT: frozenset({C.SCHEDULED, C.ACTIVE, C.CANCELLED}),
    C.SCHEDULED: frozenset({C.ACTIVE, C.PAUSED, C.CANCELLED}),
    C.ACTIVE: frozenset({C.PAUSED, C.COMPLETED, C.CANCELLED}),
    C.PAUSED: frozenset({C.ACTIVE, C.SCHEDULED, C.CANCELLED}),
    C.COMPLETED: frozenset(),
    C.CANCELLED: frozenset(),
}
EDITABLE = frozenset({C.DRAFT, C.PAUSED})
# Contacts may be added until the campaign is over.
ACCEPTS_CONTACTS = frozenset({C.DRAFT, C.SCHEDULED, C.ACTIVE, C.PAUSED})


def sources_of(target: CampaignStatus) -> frozenset[CampaignStatus]:
    return frozenset(s for s, targets in CAMPAIGN_TRANSITIONS.items() if target in targets)


class ContactStatus(StrEnum):
    """A contact's progress inside one campaign."""

    PENDING = "pending"         # waiting for its (next) attempt at `nextAttempt`
    CALLING = "calling"         # an attempt's call exists and has not ended
    COMPLETED = "completed"     # reached: a call completed
    FAILED = "failed"           # attempts used up, or a failure that is never retried
    SKIPPED = "skipped"         # never called: do-not-call list, invalid number
    CANCELLED = "cancelled"     # the campaign was cancelled first


P = ContactStatus
CONTACT_TRANSITIONS: dict[ContactStatus, frozenset[ContactStatus]] = {
    P.PENDING: frozenset({P.CALLING, P.SKIPPED, P.CANCELLED}),
    # Back to pending: a retry is due later, or a pause took back an undialed call.
    # Cancelled: the campaign was cancelled before the call was dialed.
    P.CALLING: frozenset({P.PENDING, P.COMPLETED, P.FAILED, P.SKIPPED, P.CANCELLED}),
    P.COMPLETED: frozenset(),
    P.FAILED: frozenset(),
    P.SKIPPED: frozenset(),
    P.CANCELLED: frozenset(),
}
OPEN_CONTACT_STATUSES = (P.PENDING, P.CALLING)
FINAL_CONTACT_STATUSES = tuple(s for s, targets in CONTACT_TRANSITIONS.items() if not targets)

DEFAULT_RETRY_STATUSES = [FailureReason.NO_ANSWER, FailureReason.BUSY, FailureReason.NETWORK_ERROR,
                          FailureReason.RATE_LIMITED, FailureReason.API_UNAVAILABLE]


class RetryConfig(CamelModel):
    max_attempts: int = Field(3, ge=1, le=10, description="attempts per contact, the first included")
    delay_between_attempts: float = Field(60, ge=0.1, le=7 * 24 * 60, description="minutes (fractions allowed)")
    retry_statuses: list[FailureReason] = Field(default_factory=lambda: list(DEFAULT_RETRY_STATUSES),
                                                description="failure reasons that are tried again")

    @field_validator("retry_statuses")
    @classmethod
    def _retryable(cls, value: list[FailureReason]) -> list[FailureReason]:
        refused = [r.value for r in value if r in NEVER_RETRIED]
        if refused:
            raise ValueError(f"{', '.join(refused)} is never retried")
        return list(dict.fromkeys(value))


class AllowedHours(CamelModel):
    start: HourMinute = Field(description="HH:MM")
    end: HourMinute = Field(description="HH:MM; earlier than start means the window ends the next day")


class ScheduleConfig(CamelModel):
    time_zone: TimezoneName = "UTC"
    allowed_hours: AllowedHours = AllowedHours(start="09:00", end="20:00")
    allowed_days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5], min_length=1, max_length=7,
                                    description="0=Sunday … 6=Saturday")

    @field_validator("allowed_days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(not 0 <= day <= 6 for day in value):
            raise ValueError("days are 0 (Sunday) to 6 (Saturday)")
        return sorted(set(value))


class CampaignConfig(CamelModel):
    max_concurrent_calls: int = Field(5, ge=1, le=1000)
    callback_url: str | None = Field(None, max_length=2000, description="http(s) URL each finished contact is POSTed to")
    retry_config: RetryConfig = RetryConfig()
    schedule_config: ScheduleConfig = ScheduleConfig()

    @field_validator("callback_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        # Stored as the string the client gave, once it parses as http(s).
        if value is not None:
            _HTTP_URL.validate_python(value)
        return value


class ElevenLabsConfig(CamelModel):
    agent_id: str | None = Field(None, max_length=128)
    voice_id: str | None = Field(None, max_length=128)
    parameters: FreeForm | None = None


class SheetIntegration(CamelModel):
    spreadsheet_id: str = Field(min_length=1, max_length=200)
    sheet_id: str = Field("Sheet1", min_length=1, max_length=200, description="the sheet's title")
    header_row: int = Field(1, ge=1, le=1000)
    phone_column: str = Field("phone", min_length=1, max_length=100, description="header of the phone column")
    name_column: str | None = Field(None, max_length=100)
    status_column: str | None = Field(None, max_length=100, description="header of the column the status is written to")
    last_sync_time: UtcDatetime | None = None        # last import from the sheet
    last_status_sync: UtcDatetime | None = None      # statuses changed before this are in the sheet


class CampaignStats(CamelModel):
    """Live counters, updated as contacts are added and calls end."""

    total_contacts: int = 0
    contacts_attempted: int = 0     # contacts with at least one call placed
    contacts_completed: int = 0     # contacts reached
    contacts_failed: int = 0        # contacts finished without being reached (incl. skipped)
    calls_placed: int = 0
    calls_connected: int = 0        # calls with a duration > 0
    total_call_time: int = 0        # seconds

    @computed_field
    @property
    def success_rate(self) -> float | None:
        """Reached contacts, in percent of the contacts finished so far."""
        finished = self.contacts_completed + self.contacts_failed
        return round(100 * self.contacts_completed / finished, 2) if finished else None

    @computed_field
    @property
    def average_call_time(self) -> float | None:
        """Seconds, over the calls that connected."""
        return round(self.total_call_time / self.calls_connected, 1) if self.calls_connected else None


class Campaign(Document):
    name: str
    description: str | None = None
    status: CampaignStatus = CampaignStatus.DRAFT
    agent_id: str
    start_date: UtcDatetime | None = None
    end_date: UtcDatetime | None = None
    started_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    config: CampaignConfig = CampaignConfig()
    elevenlabs_config: ElevenLabsConfig | None = None
    sheet_integration: SheetIntegration | None = None
    stats: CampaignStats = CampaignStats()
    # The HMAC key for callbackUrl posts; shown to API clients so they can verify.
    callback_secret: str
    # One runner at a time fills a campaign's free slots.
    runner_lease_until: UtcDatetime | None = None

    _private_fields = frozenset({"runner_lease_until"})

    def to_api(self) -> dict[str, Any]:
        # Rates are null until there is something to divide, not missing.
        return super().to_api() | {"stats": self.stats.model_dump(mode="json", by_alias=True)}

    def to_mongo(self) -> dict[str, Any]:
        doc = super().to_mongo()
        doc["stats"] = self.stats.model_dump(by_alias=True, exclude={"success_rate", "average_call_time"})
        return doc


class CallResult(CamelModel):
    call_id: str
    timestamp: UtcDatetime
    status: str
    failure_reason: str | None = None
    duration: int | None = None


class CampaignContact(Document):
    campaign_id: str
    contact_id: str
    phone: str                       # the contact's E.164 number when it was added
    status: ContactStatus = ContactStatus.PENDING
    attempts: int = 0               # attempts that count against retryConfig.maxAttempts
    calls_created: int = 0          # every call ever made for this contact: names the next one
    last_attempt: UtcDatetime | None = None
    next_attempt: UtcDatetime | None = None
    current_call_id: str | None = None
    call_results: list[CallResult] = Field(default_factory=list)
    custom_data: dict[str, Any] = Field(default_factory=dict)
    skip_reason: str | None = None
    # The contact's row in the campaign's Google Sheet, when imported from
    # one: where its status is written back.
    sheet_row: int | None = None


class CampaignCreate(InputModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    agent_id: str = Field(min_length=1, max_length=64)
    start_date: UtcDatetime | None = None
    end_date: UtcDatetime | None = None
    config: CampaignConfig | None = None
    elevenlabs_config: ElevenLabsConfig | None = None
    sheet_integration: SheetIntegration | None = None

    @model_validator(mode="after")
    def _order(self):
        if self.start_date and self.end_date and self.end_date <= self.start_date:
            raise ValueError("endDate must be after startDate")
        return self


class CampaignUpdate(InputModel):
    """Omitted fields are kept; null clears the fields that may be empty."""

    name: str = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    agent_id: str = Field(None, min_length=1, max_length=64)
    start_date: UtcDatetime | None = None
    end_date: UtcDatetime | None = None
    config: CampaignConfig = None
    elevenlabs_config: ElevenLabsConfig | None = None
    sheet_integration: SheetIntegration | None = None
