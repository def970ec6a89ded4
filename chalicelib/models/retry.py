"""Retry attempts: seed 000 RetryAttempt."""
from __future__ import annotations

from enum import StrEnum

from pydantic import Field, computed_field

from .base import Document, UtcDatetime
from .call_status import FailureReason


class RetryStatus(StrEnum):
    PENDING = "pending"          # due at scheduledFor
    PROCESSING = "processing"    # a scheduler run holds it (leaseUntil)
    COMPLETED = "completed"      # its retry call was created and handed to dispatch
    FAILED = "failed"
    CANCELLED = "cancelled"


class RetryAttempt(Document):
    original_call_id: str          # the first call of the chain
    retry_call_id: str | None = None
    attempt_number: int = Field(ge=1)
    scheduled_for: UtcDatetime
    status: RetryStatus = RetryStatus.PENDING
    failure_reason: FailureReason   # why the previous call failed
    processed_at: UtcDatetime | None = None
    lease_until: UtcDatetime | None = None
    metadata: dict = Field(default_factory=dict)

    _private_fields = frozenset({"lease_until"})

    @computed_field
    @property
    def is_pending(self) -> bool:
        return self.status == RetryStatus.PENDING

    @computed_field
    @property
    def is_processed(self) -> bool:
        return self.status in (RetryStatus.COMPLETED, RetryStatus.FAILED, RetryStatus.CANCELLED)
