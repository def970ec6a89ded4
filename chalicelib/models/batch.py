"""Batch calls (seed 000 `metadata.batchId`): many recipients, one agent, one request."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AfterValidator, Field, StringConstraints
from typing import Annotated

from .base import CamelModel, Document, InputModel, UtcDatetime
from .free_form import FreeForm
from .policy import BusinessHours, RetryPolicy, TimezoneName

MAX_RECIPIENTS = 10_000


class BatchStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


B = BatchStatus
# The batch lifecycle: pausing holds new dials, cancelling ends every call not
# yet dialed; completed and cancelled are final.
TRANSITIONS: dict[BatchStatus, frozenset[BatchStatus]] = {
    B.ACTIVE: frozenset({B.PAUSED, B.COMPLETED, B.CANCELLED}),
    B.PAUSED: frozenset({B.ACTIVE, B.CANCELLED}),
    B.COMPLETED: frozenset(),
    B.CANCELLED: frozenset(),
}


def batch_predecessors(new: BatchStatus) -> list[BatchStatus]:
    return [status for status, nexts in TRANSITIONS.items() if new in nexts]


def _check_variables(value: dict) -> dict:
    reserved = [key for key in value if key.startswith("system__")]
    if reserved:
        raise ValueError(f"{reserved[0]!r}: the system__ prefix is reserved for the agent platform")
    return value


# ElevenLabs dynamic variables: a flat map of names to strings, numbers or
# booleans (nested values are not supported there); `system__` names are its own.
VariableName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")]
VariableValue = Annotated[str, StringConstraints(max_length=2000)] | bool | int | Annotated[
    float, Field(allow_inf_nan=False)]
DynamicVariables = Annotated[dict[VariableName, VariableValue], Field(max_length=50),
                             AfterValidator(_check_variables)]


class BatchRecipient(InputModel):
    to: str = Field(min_length=1, max_length=64)
    # Passed to the conversational agent as the call's dynamicVariables.
    variables: DynamicVariables | None = None


class BatchOptions(InputModel):
    """Everything of a batch request but its recipients (which are checked
    row by row, so every bad row is reported at once)."""

    agent_id: str = Field(min_length=1, max_length=64)
    scheduled_for: datetime | None = None
    timezone: TimezoneName | None = None
    business_hours: BusinessHours | None = None
    retry_policy: RetryPolicy | None = None
    metadata: FreeForm | None = None
    # At most this many of the batch's calls at once (none: only the account's CPS limits it).
    max_concurrent_calls: int | None = Field(None, ge=1, le=1000)


class BatchCreate(BatchOptions):
    """POST /calls/batch (the schema the API documents)."""

    recipients: list[BatchRecipient] = Field(min_length=1, max_length=MAX_RECIPIENTS)


class SkippedRecipient(CamelModel):
    index: int
    to: str
    reason: str        # do_not_call | duplicate


class Batch(Document):
    agent_id: str
    size: int                                  # calls created (recipients minus skipped)
    status: BatchStatus = BatchStatus.ACTIVE
    scheduled_for: UtcDatetime | None = None   # when the first call is due
    timezone: str | None = None
    max_concurrent_calls: int | None = None
    chunks: int = 0                            # fan-out messages
    skipped: list[SkippedRecipient] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    cancelled_at: UtcDatetime | None = None
    completed_at: UtcDatetime | None = None

    @property
    def concurrency_key(self) -> str:
        return f"batch:{self.id}"
