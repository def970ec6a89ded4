"""Turning a queued call into a carrier call, exactly once."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Callable, Iterable

from .. import clock
from ..models.call_status import CallStatus
from ..providers.base import DialRequest, OutcomeUnknown, ProviderError, TelephonyProvider
from ..queues import DialQueue, QueueUnavailable, parse_dial_message
from ..repositories.agents import AgentRepository
from ..repositories.call_events import CallEventRepository
from ..repositories.calls import CallRepository
from .events import EventLog

log = logging.getLogger(__name__)

# A call not dialed this long after it was created has lost its queue message.
UNDIALED_GRACE = timedelta(minutes=2)


class DialOutcome(StrEnum):
    DIALED = "dialed"
    ADOPTED = "adopted"    # an earlier, interrupted attempt had placed it after all
    SKIPPED = "skipped"    # already dialed, finished, cancelled, or claimed by another worker
    FAILED = "failed"      # the carrier refused it; the call is failed


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    body: str


class DialService:
    def __init__(self, *, calls: CallRepository, events: CallEventRepository, agents: AgentRepository,
                 provider: TelephonyProvider, public_url: Callable[[str], str], lease_seconds: int):
        self._calls = calls
        self._event_log = EventLog(events)
        self._agents = agents
        self._provider = provider
        self._public_url = public_url
        self._lease = timedelta(seconds=lease_seconds)

    def process_batch(self, messages: Iterable[QueueMessage]) -> list[str]:
        """Dial each message's call; return the ids of messages that must be
        redelivered (SQS partial batch response), so one failure does not
        send the whole batch round again."""
        failed = []
        for message in messages:
            try:
                self.dial(parse_dial_message(message.body))
            except Exception:
                log.exception("dial message %s failed", message.message_id)
                failed.append(message.message_id)
        return failed

    def dial(self, call_id: str) -> DialOutcome:
        now = clock.now()
        call = self._calls.claim_for_dial(call_id, now=now, lease_until=now + self._lease)
        if call is None:
            return DialOutcome.SKIPPED

        if call.dial_attempts > 1:
            # An earlier claim expired without recording a carrier call; that
            # worker may have placed it before dying. Ask before dialing again.
            placed = self._provider.find_calls(to=call.to, since=call.dial_claimed_at)
            if placed:
                self._record_dialed(call_id, placed[0], event_type="dial_reconciled")
                return DialOutcome.ADOPTED

        agent = self._agents.get(call.agent_id)
        if agent is None:
            raise LookupError(f"call {call_id} refers to missing agent {call.agent_id}")
        request = DialRequest(
            call_id=call.id,
            to=call.to,
            from_=call.from_,
            answer_url=self._public_url(f"twiml/{call.id}"),
            status_callback_url=self._public_url(f"webhooks/twilio/status/{call.id}"),
            time_limit_seconds=agent.config.max_call_duration,
        )
        try:
            result = self._provider.place_call(request)
        except OutcomeUnknown as exc:
            # Keep the claim: when it expires the next attempt reconciles first.
            self._event_log.record(call_id, "dial_outcome_unknown", reason=str(exc)[:500])
            raise
        except ProviderError as exc:
            self._fail(call_id, exc)
            return DialOutcome.FAILED
        self._record_dialed(call_id, result.provider_call_sid, event_type="dialed")
        return DialOutcome.DIALED

    def _record_dialed(self, call_id: str, provider_call_sid: str, *, event_type: str) -> None:
        call = self._calls.record_dialed(call_id, provider=self._provider.name,
                                         provider_call_sid=provider_call_sid, now=clock.now())
        self._event_log.record(call_id, event_type, provider_call_sid=provider_call_sid)
        if call is not None and call.status == CallStatus.CANCELLED:
            # Cancelled while we were dialing: hang up what we just placed.
            try:
                self._provider.cancel_call(provider_call_sid)
                self._event_log.record(call_id, "provider_cancelled", provider_call_sid=provider_call_sid)
            except ProviderError as exc:
                self._event_log.record(call_id, "provider_cancel_failed", reason=str(exc)[:500])

    def _fail(self, call_id: str, exc: ProviderError) -> None:
        now = clock.now()
        failed = self._calls.transition(
            call_id, to=CallStatus.FAILED, allowed_from=[CallStatus.INITIATED],
            fields={"failureReason": exc.reason.value, "endedAt": now}, now=now)
        self._event_log.record(call_id, "dial_failed", from_status=CallStatus.INITIATED,
                               to_status=CallStatus.FAILED, applied=failed is not None,
                               reason=str(exc)[:500], data={"code": exc.code})
        self._calls.release_claim(call_id, now=now)

    def enqueue_undialed(self, queue: DialQueue, *, limit: int = 500) -> int:
        """Safety net run by the scheduler: re-enqueue calls whose dial message
        was never sent or whose claim expired (a crashed worker). Claims are
        atomic, so an extra message is harmless."""
        now = clock.now()
        call_ids = self._calls.find_undialed(now=now, created_before=now - UNDIALED_GRACE, limit=limit)
        sent = 0
        for call_id in call_ids:
            try:
                queue.send(call_id)
                sent += 1
            except QueueUnavailable as exc:
                log.warning("sweep could not enqueue: %s", exc)
                break
        return sent
