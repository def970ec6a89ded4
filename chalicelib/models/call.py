"""Calls (seed 000 CallLog merged with seed 002 Calls) and their events."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, computed_field

from .base import CamelModel, Document, InputModel, Stored, UtcDatetime
from .call_status import CANCELLABLE, CallStatus, FailureReason, OutboundStatus
from .free_form import FreeForm
from .policy import NEVER_RETRIED, BusinessHours, RetryPolicy, TimezoneName
from .schedule import RecurringInput


Carrier = Literal["twilio", "exotel", "elevenlabs"]
DynamicValue = Annotated[str, Field(max_length=1000)] | bool | int | float


class TranscriptLine(CamelModel):
    speaker: Literal["user", "assistant"]
    text: str
    timestamp: UtcDatetime | None = None


class CallOutcome(CamelModel):
    """What the conversation achieved (seed 002 `outcome`), from the agent's analysis."""

    status: str                  # ElevenLabs call_successful: success | failure | unknown
    reason: str | None = None    # why the conversation ended
    notes: str | None = None     # the summary


class Call(Document):
    direction: Literal["outbound", "inbound"] = "outbound"
    to: str
    from_: str | None = Field(None, alias="from")
    agent_id: str
    status: CallStatus = CallStatus.INITIATED
    outbound_status: OutboundStatus | None = OutboundStatus.QUEUED
    failure_reason: FailureReason | None = None
    provider: str | None = None
    provider_call_sid: str | None = None
    answered_by: str | None = None
    scheduled_for: UtcDatetime | None = None
    initiated_at: UtcDatetime | None = None
    started_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    duration: int | None = None
    price: float | None = None
    price_currency: str | None = None
    recording_url: str | None = None
    retry_count: int = 0
    retry_of: str | None = None        # the first call of the chain
    retry_policy: RetryPolicy | None = None
    business_hours: BusinessHours | None = None
    # A campaign call must also fall inside the campaign's allowed hours.
    campaign_hours: BusinessHours | None = None
    schedule_id: str | None = None
    campaign_id: str | None = None
    contact_id: str | None = None
    batch_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    # The person's values for the conversation (campaign customData, batch
    # variables, or given when the call is created), passed to the ElevenLabs
    # agent as its dynamic variables.
    dynamic_variables: dict[str, DynamicValue] = Field(default_factory=dict)
    carrier: Carrier | None = None            # asked for this call; else the agent's, else the default
    conversation_id: str | None = None        # the ElevenLabs conversation
    transcript: list[TranscriptLine] = Field(default_factory=list)   # the short transcript (seed 000)
    outcome: CallOutcome | None = None
    # A shared limit on calls in flight (e.g. `batch:<id>`, `campaign:<id>`):
    # the dialer holds one of `concurrencyLimit` slots of this scope per call.
    concurrency_key: str | None = None
    concurrency_limit: int | None = None
    waiting_for_slot: bool = False     # put back until a slot of its scope frees up
    waiting_since: UtcDatetime | None = None   # first put back by pacing (slot waiters are woken in this order)
    pacing_waits: int = 0              # times put back by pacing: each wait is longer (backoff)
    # Dial bookkeeping: the claim that guarantees one dial per call.
    dial_attempts: int = 0
    dial_lease_until: UtcDatetime | None = None
    dial_claimed_at: UtcDatetime | None = None
    enqueued_at: UtcDatetime | None = None   # last time a dial message was sent
    # Waiting for the scheduler to send its dial message at `scheduledFor`.
    dispatch_pending: bool = False

    _private_fields = frozenset({"dial_lease_until", "dial_claimed_at", "enqueued_at", "dispatch_pending",
                                "waiting_for_slot", "waiting_since", "pacing_waits"})

    @computed_field
    @property
    def is_retry(self) -> bool:
        return self.retry_of is not None

    @computed_field
    @property
    def can_cancel(self) -> bool:
        return self.status in CANCELLABLE

    @computed_field
    @property
    def can_retry(self) -> bool:
        max_retries = self.retry_policy.max_retries if self.retry_policy else RetryPolicy().max_retries
        return (
            self.status == CallStatus.FAILED
            and self.retry_count < max_retries
            and self.failure_reason not in NEVER_RETRIED
        )


class CallCreate(InputModel):
    to: str = Field(min_length=1, max_length=64)
    agent_id: str = Field(min_length=1, max_length=64)
    metadata: FreeForm | None = None
    # When: an instant with an offset, or a local date-time with `timezone`.
    scheduled_for: datetime | None = None
    timezone: TimezoneName | None = None
    business_hours: BusinessHours | None = None
    recurring: RecurringInput | None = None
    retry_policy: RetryPolicy | None = None
    dynamic_variables: dict[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")],
                            DynamicValue] | None = Field(None, max_length=50)
    carrier: Carrier | None = None


class CallEvent(Stored):
    """One thing that happened to a call: a provider callback or an internal
    transition, with its raw payload. `applied` is false for callbacks the
    state machine refused (duplicates, late or out-of-order deliveries)."""

    call_id: str
    event_type: str
    source: Literal["twilio", "simulated", "exotel", "elevenlabs", "internal", "api"]
    timestamp: UtcDatetime                    # when we received or did it (events sort by this)
    occurred_at: UtcDatetime | None = None    # when the provider says it happened
    provider_call_sid: str | None = None
    from_status: CallStatus | None = None
    to_status: CallStatus | None = None
    applied: bool = True
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    # A conversation event (ElevenLabs): who spoke, what was said (seed 002).
    conversation_data: dict[str, Any] | None = None
