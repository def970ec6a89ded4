"""What happens after a call fails: the retry policy, and the retry history."""
from __future__ import annotations

import logging
import random
from datetime import timedelta

from .. import clock
from ..clock import EPOCH
from ..errors import Conflict, NotFound
from ..ids import new_id
from ..models.call import Call
from ..models.call_status import CallStatus
from ..models.policy import RetryPolicy
from ..models.retry import RetryAttempt, RetryStatus
from ..repositories.agents import AgentRepository
from ..repositories.calls import CallRepository
from ..repositories.retries import RetryRepository
from .events import EventLog

log = logging.getLogger(__name__)


def root_of(call: Call) -> str:
    """Retries all point at the first call of their chain."""
    return call.retry_of or call.id


def retry_call_id(root_id: str, attempt_number: int) -> str:
    # Deterministic, so a scheduler run that dies after creating the call and
    # is run again cannot create a second one.
    return f"{root_id}_r{attempt_number}"


class RetryService:
    def __init__(self, *, calls: CallRepository, retries: RetryRepository, agents: AgentRepository,
                 event_log: EventLog, rng: random.Random | None = None):
        self._calls = calls
        self._retries = retries
        self._agents = agents
        self._event_log = event_log
        self._rng = rng or random.Random()

    def policy_for(self, call: Call) -> RetryPolicy:
        if call.retry_policy:
            return call.retry_policy
        agent = self._agents.get(call.agent_id)
        return (agent.retry_policy if agent else None) or RetryPolicy()

    def after_call_ended(self, call: Call) -> None:
        """Called once a call reaches a final status."""
        root_id = root_of(call)
        now = clock.now()
        if call.status == CallStatus.COMPLETED and call.retry_of:
            self._calls.set_metadata(root_id, {"successfulRetryId": call.id}, now=now)
            return
        if call.status != CallStatus.FAILED:
            return
        policy = self.policy_for(call)
        if call.failure_reason not in policy.reasons:
            return
        attempt_number = call.retry_count + 1
        if attempt_number > policy.max_retries:
            self._calls.set_metadata(root_id, {"maxRetriesReached": True}, now=now)
            self._event_log.record(root_id, "max_retries_reached", data={"lastCallId": call.id})
            return
        minutes = policy.interval_minutes(attempt_number) * self._rng.uniform(1 - policy.jitter, 1 + policy.jitter)
        self._schedule(call, root_id, attempt_number, now + timedelta(minutes=minutes), now)

    def retry_now(self, call_id: str) -> RetryAttempt:
        """A manual retry of a failed call, due at once."""
        call = self._calls.get(call_id)
        if call is None:
            raise NotFound(f"no call {call_id}", field="callId")
        if not call.can_retry:
            raise Conflict(f"this call cannot be retried ({call.status}"
                           f"{', ' + call.failure_reason if call.failure_reason else ''})", field="status")
        root_id = root_of(call)
        attempts = self._retries.for_call(root_id)
        if any(a.status in (RetryStatus.PENDING, RetryStatus.PROCESSING) for a in attempts):
            raise Conflict("a retry of this call is already pending", field="status")
        if any(a.attempt_number > call.retry_count for a in attempts):
            raise Conflict("this call was already retried; retry the latest call of the chain", field="callId")
        now = clock.now()
        attempt = self._schedule(call, root_id, call.retry_count + 1, now, now)
        if attempt is None:
            raise Conflict("this call was already retried", field="callId")
        return attempt

    def _schedule(self, call: Call, root_id: str, attempt_number: int, due, now) -> RetryAttempt | None:
        attempt = RetryAttempt(id=new_id("rty"), created_at=now, updated_at=now, original_call_id=root_id,
                               attempt_number=attempt_number, scheduled_for=due,
                               failure_reason=call.failure_reason, metadata={"previousCallId": call.id})
        if not self._retries.insert(attempt):
            return None   # this attempt exists already: a duplicated callback
        self._event_log.record(call.id, "retry_scheduled",
                               data={"attempt": attempt_number, "at": due.isoformat(), "retryId": attempt.id})
        return attempt

    def history(self, call_id: str) -> tuple[Call, list[tuple[RetryAttempt, Call | None]]]:
        call = self._calls.get(call_id)
        if call is None:
            raise NotFound(f"no call {call_id}", field="callId")
        attempts = self._retries.for_call(root_of(call))
        return call, [(a, self._calls.get(a.retry_call_id) if a.retry_call_id else None) for a in attempts]

    def cancel_pending(self, call: Call) -> int:
        return self._retries.cancel_pending(root_of(call), now=clock.now())

    def materialize(self, attempt: RetryAttempt, now) -> Call | None:
        """Create the attempt's call (once), waiting for dispatch at its time."""
        original = self._calls.get(attempt.original_call_id)
        if original is None:
            return None
        call = Call(
            id=retry_call_id(original.id, attempt.attempt_number), created_at=now, updated_at=now,
            to=original.to, agent_id=original.agent_id, retry_of=original.id, retry_count=attempt.attempt_number,
            retry_policy=original.retry_policy, business_hours=original.business_hours,
            campaign_id=original.campaign_id, contact_id=original.contact_id, batch_id=original.batch_id,
            dynamic_variables=original.dynamic_variables, carrier=original.carrier,
            concurrency_key=original.concurrency_key, concurrency_limit=original.concurrency_limit,
            metadata={k: v for k, v in original.metadata.items()
                      if k not in ("successfulRetryId", "maxRetriesReached", "voicemailLeft")},
            scheduled_for=attempt.scheduled_for, dispatch_pending=True, enqueued_at=attempt.scheduled_for,
            dial_lease_until=EPOCH, **{"from": original.from_},
        )
        if self._calls.insert(call):
            self._event_log.record(call.id, "created", source="internal", to_status=CallStatus.INITIATED,
                                   data={"retryOf": original.id, "attempt": attempt.attempt_number})
        return call
