"""The call state machine: every allowed status change is in TRANSITIONS.

Provider callbacks arrive late, twice, or out of order; a change that is not in
the table is recorded as an event but never applied, so a call never moves
backwards and a terminal status is final.
"""
from __future__ import annotations

from enum import StrEnum


class CallStatus(StrEnum):
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OutboundStatus(StrEnum):
    QUEUED = "queued"
    RINGING = "ringing"
    CONNECTED = "connected"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"


class FailureReason(StrEnum):
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    INVALID_NUMBER = "invalid_number"
    NETWORK_ERROR = "network_error"
    RATE_LIMITED = "rate_limited"
    API_UNAVAILABLE = "api_unavailable"
    CANCELLED = "cancelled"
    # Ours: the call cannot be placed as configured (missing agent, caller ID
    # the carrier refuses, ...). A person must fix something; never retried.
    CONFIGURATION_ERROR = "configuration_error"
    # Ours: the number is on the do-not-call list. Never dialed, never retried.
    DO_NOT_CALL = "do_not_call"


S = CallStatus
TRANSITIONS: dict[CallStatus, frozenset[CallStatus]] = {
    # A ringing or answered callback may be lost, so a later status may skip it.
    S.INITIATED: frozenset({S.RINGING, S.IN_PROGRESS, S.COMPLETED, S.FAILED, S.CANCELLED}),
    S.RINGING: frozenset({S.IN_PROGRESS, S.COMPLETED, S.FAILED, S.CANCELLED}),
    # Once answered, a call can only end; it can no longer be cancelled.
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.FAILED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}

TERMINAL = frozenset(status for status, nexts in TRANSITIONS.items() if not nexts)
CANCELLABLE = frozenset(status for status, nexts in TRANSITIONS.items() if S.CANCELLED in nexts)


def can_transition(current: CallStatus, new: CallStatus) -> bool:
    return new in TRANSITIONS[current]


def predecessors(new: CallStatus) -> frozenset[CallStatus]:
    """The statuses from which `new` may be entered (the guard of a conditional update)."""
    return frozenset(status for status, nexts in TRANSITIONS.items() if new in nexts)
