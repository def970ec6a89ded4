"""The interface every carrier implements, and the errors it may raise."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..models.call_status import FailureReason


@dataclass(frozen=True)
class DialRequest:
    call_id: str
    to: str
    from_: str
    answer_url: str            # where the carrier fetches call instructions once answered
    status_callback_url: str   # where the carrier posts progress events
    time_limit_seconds: int    # hard cap on the call's length (agent.maxCallDuration)
    ring_timeout_seconds: int = 30
    recording_callback_url: str | None = None   # record the call, and report the recording here
    conversation: Conversation | None = None    # for carriers that hand the call to the agent themselves


@dataclass(frozen=True)
class Conversation:
    """What the ElevenLabs agent needs to start talking."""

    elevenlabs_agent_id: str
    first_message: str
    dynamic_variables: dict[str, Any] = field(default_factory=dict)
    phone_number_id: str | None = None


@dataclass(frozen=True)
class DialResult:
    provider_call_sid: str
    conversation_id: str | None = None


class ProviderError(Exception):
    """The carrier refused or could not take a request."""

    reason: FailureReason = FailureReason.NETWORK_ERROR

    def __init__(self, message: str, *, code: str | int | None = None):
        super().__init__(message)
        self.code = code


class ProviderRejected(ProviderError):
    """The carrier refused the request as configured (e.g. an unverified caller ID)."""

    reason = FailureReason.CONFIGURATION_ERROR


class InvalidNumber(ProviderError):
    reason = FailureReason.INVALID_NUMBER


class RateLimited(ProviderError):
    reason = FailureReason.RATE_LIMITED


class ProviderUnavailable(ProviderError):
    """The carrier did not take the request (5xx, connection refused)."""

    reason = FailureReason.API_UNAVAILABLE


class OutcomeUnknown(ProviderError):
    """The request was sent but no answer came back: the call may or may not
    exist. Never dial again before asking the carrier (`find_calls`)."""

    reason = FailureReason.API_UNAVAILABLE


class CannotCancel(ProviderError):
    """The call has already ended at the carrier."""


class TelephonyProvider(Protocol):
    name: str

    def place_call(self, request: DialRequest) -> DialResult: ...

    def cancel_call(self, provider_call_sid: str) -> None:
        """End the call now: cancel it if it has not been answered, else hang up."""
        ...

    def find_calls(self, *, to: str, from_: str, since: datetime) -> list[str]:
        """Provider call SIDs of calls from `from_` to `to` created at or after `since`, oldest first."""
        ...
