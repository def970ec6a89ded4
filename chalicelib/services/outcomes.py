"""Ending a call that was never placed (refused by the carrier, no calling
window, on the do-not-call list, ...): one place, one event shape."""
from __future__ import annotations

from typing import Any, Callable

from .. import clock
from ..models.call import Call
from ..models.call_status import CallStatus, FailureReason
from ..repositories.calls import CallRepository
from .events import EventLog


def fail_undialed(calls: CallRepository, event_log: EventLog, call_id: str, reason: FailureReason, detail: str, *,
                  event_type: str = "dial_failed", data: dict[str, Any] | None = None,
                  on_ended: Callable[[Call], None] | None = None) -> Call | None:
    now = clock.now()
    failed = calls.transition(call_id, to=CallStatus.FAILED, allowed_from=[CallStatus.INITIATED],
                              fields={"failureReason": reason.value, "endedAt": now}, now=now)
    event_log.record(call_id, event_type, from_status=CallStatus.INITIATED, to_status=CallStatus.FAILED,
                     applied=failed is not None, reason=detail[:500], data=data or {})
    if failed is not None and on_ended is not None:
        on_ended(failed)
    return failed
