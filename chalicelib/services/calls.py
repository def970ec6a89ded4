"""Placing, reading and cancelling calls."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from .. import clock
from ..clock import EPOCH
from ..errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from ..ids import new_id
from ..models.call import Call, CallCreate, CallEvent
from ..models.call_status import CANCELLABLE, CallStatus, FailureReason
from ..phone import to_e164
from ..providers.base import CannotCancel, ProviderError
from ..queues import DialQueue, QueueUnavailable
from ..repositories.agents import AgentRepository
from ..repositories.base import Page
from ..repositories.call_events import CallEventRepository
from ..repositories.calls import CallFilter, CallRepository
from ..repositories.idempotency import IdempotencyRepository
from .events import EventLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CreatedCall:
    call: Call
    replayed: bool  # True when an Idempotency-Key returned an existing call


class CallService:
    def __init__(self, *, calls: CallRepository, events: CallEventRepository, agents: AgentRepository,
                 idempotency: IdempotencyRepository, queue: DialQueue, provider_factory,
                 default_region: str, default_from_number: str | None):
        self._calls = calls
        self._events = events
        self._event_log = EventLog(events)
        self._agents = agents
        self._idempotency = idempotency
        self._queue = queue
        self._provider_factory = provider_factory
        self._region = default_region
        self._default_from = default_from_number

    def create(self, data: CallCreate, *, idempotency_key: str | None = None) -> CreatedCall:
        to = to_e164(data.to, default_region=self._region, field="to")
        agent = self._agents.get(data.agent_id)
        if agent is None:
            raise ValidationFailed(f"no agent {data.agent_id}", field="agentId")
        from_number = agent.from_number or self._default_from
        if not from_number:
            raise ValidationFailed("the agent has no fromNumber and no default caller ID is configured",
                                   field="agentId")

        call_id = new_id("call")
        if idempotency_key:
            request_hash = _fingerprint({"to": to, "agentId": agent.id, "metadata": data.metadata or {}})
            earlier = self._idempotency.reserve(f"calls:{idempotency_key}", request_hash=request_hash,
                                                resource_id=call_id, now=clock.now())
            if earlier is not None:
                if earlier.request_hash != request_hash:
                    raise ValidationFailed("this Idempotency-Key was already used with a different request",
                                           field="Idempotency-Key")
                existing = self._calls.get(earlier.resource_id)
                if existing is not None:
                    return CreatedCall(existing, replayed=True)
                call_id = earlier.resource_id  # the first attempt died before storing its call

        now = clock.now()
        call = Call(id=call_id, created_at=now, updated_at=now, to=to, agent_id=agent.id,
                    metadata=data.metadata or {}, dial_lease_until=EPOCH, enqueued_at=now,
                    **{"from": from_number})
        if not self._calls.insert(call):
            return CreatedCall(self._calls.get(call_id), replayed=True)
        # From here on the call exists and will be dialed: nothing below may
        # turn the response into an error a client would retry.
        self._record_quietly(call.id, "created", source="api", to_status=CallStatus.INITIATED)
        self._enqueue(call.id)
        return CreatedCall(call, replayed=False)

    def _enqueue(self, call_id: str) -> None:
        try:
            self._queue.send(call_id)
        except QueueUnavailable as exc:
            # The call is stored; the undialed-calls sweep enqueues it within
            # a couple of minutes, so the request still succeeds.
            log.warning("enqueue deferred to the sweep: %s", exc)
            try:
                self._calls.mark_enqueued(call_id, at=EPOCH)
            except Exception:
                log.exception("could not flag call %s for the sweep", call_id)
            self._record_quietly(call_id, "enqueue_deferred", reason=str(exc)[:500])

    def _record_quietly(self, call_id: str, event_type: str, **fields) -> None:
        try:
            self._event_log.record(call_id, event_type, **fields)
        except Exception:
            log.exception("could not record %s event for call %s", event_type, call_id)

    def get(self, call_id: str) -> tuple[Call, list[CallEvent]]:
        call = self._calls.get(call_id)
        if call is None:
            raise NotFound(f"no call {call_id}", field="callId")
        return call, self._events.list_for_call(call_id)

    def list(self, filters: CallFilter, *, limit: int, cursor: str | None) -> Page[Call]:
        return self._calls.list(filters, limit=limit, cursor=cursor)

    def cancel(self, call_id: str) -> Call:
        """Cancel a call that has not been answered. Cancelling twice is fine."""
        call = self._calls.get(call_id)
        if call is None:
            raise NotFound(f"no call {call_id}", field="callId")
        if call.status == CallStatus.CANCELLED:
            return call
        if call.status not in CANCELLABLE:
            raise Conflict(f"a call that is {call.status} cannot be cancelled", field="status")
        if call.provider_call_sid:
            self._end_at_carrier(call.provider, call.provider_call_sid)
        now = clock.now()
        cancelled = self._calls.transition(
            call_id, to=CallStatus.CANCELLED, allowed_from=CANCELLABLE,
            fields={"failureReason": FailureReason.CANCELLED.value, "endedAt": now}, now=now)
        if cancelled is None:
            current = self._calls.get(call_id)
            if current.status == CallStatus.CANCELLED:   # the carrier's callback got there first
                return current
            raise Conflict(f"a call that is {current.status} cannot be cancelled", field="status")
        if cancelled.provider_call_sid and not call.provider_call_sid:
            # The dialer stored a carrier call between our read and our update.
            self._end_at_carrier(cancelled.provider, cancelled.provider_call_sid)
        self._event_log.record(call_id, "cancelled", source="api", from_status=call.status,
                               to_status=CallStatus.CANCELLED, provider_call_sid=cancelled.provider_call_sid)
        return cancelled

    def _end_at_carrier(self, provider_name: str | None, provider_call_sid: str) -> None:
        try:
            self._provider_factory(provider_name).cancel_call(provider_call_sid)
        except CannotCancel:
            raise Conflict("the call has already ended at the carrier", field="status") from None
        except ProviderError as exc:
            raise ServiceUnavailable(f"the carrier could not be reached to cancel the call: {exc}") from None


def _fingerprint(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
