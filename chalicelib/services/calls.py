"""Placing, reading and cancelling calls."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from .. import clock
from ..clock import EPOCH
from ..errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from ..ids import new_id
from ..models.call import Call, CallCreate, CallEvent
from ..models.call_status import CANCELLABLE, CallStatus, FailureReason
from ..models.schedule import Recurring, ScheduledCall
from ..phone import to_e164
from ..providers.base import CannotCancel, ProviderError
from ..repositories.agents import AgentRepository
from ..repositories.base import Page
from ..repositories.call_events import CallEventRepository
from ..repositories.calls import CallFilter, CallRepository
from ..repositories.schedules import ScheduleRepository
from .events import EventLog
from .idempotency import Idempotency
from .outcomes import fail_undialed
from .retries import RetryService
from .scheduling import Dispatcher
from .when import When, resolve_when

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CreatedCall:
    call: Call
    replayed: bool  # True when an Idempotency-Key returned an existing call


class CallService:
    def __init__(self, *, calls: CallRepository, events: CallEventRepository, agents: AgentRepository,
                 idempotency: Idempotency, schedules: ScheduleRepository, dispatcher: Dispatcher,
                 retries: RetryService, provider_factory, default_region: str, default_from_number: str | None,
                 is_blocked=lambda phone: False):
        self._is_blocked = is_blocked
        self._calls = calls
        self._events = events
        self._event_log = EventLog(events)
        self._agents = agents
        self._idempotency = idempotency
        self._schedules = schedules
        self._dispatcher = dispatcher
        self._retries = retries
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
        now = clock.now()
        when = resolve_when(data.scheduled_for, data.timezone, now=now, required_zone=data.recurring is not None)
        if data.recurring and when is None:
            raise ValidationFailed("a recurring call needs scheduledFor", field="scheduledFor")

        call_id, seen = self._idempotency.claim("calls", idempotency_key,
                                                data.model_dump(mode="json", by_alias=True) | {"to": to},
                                                new_id("call"))
        if seen and (existing := self._calls.get(call_id)):
            return CreatedCall(existing, replayed=True)

        due = when.instant if when else now
        call = Call(id=call_id, created_at=now, updated_at=now, to=to, agent_id=agent.id,
                    metadata=data.metadata or {}, business_hours=data.business_hours,
                    dynamic_variables=data.dynamic_variables or {}, carrier=data.carrier,
                    retry_policy=data.retry_policy, scheduled_for=due, dispatch_pending=True, enqueued_at=due,
                    dial_lease_until=EPOCH, **{"from": from_number})
        if when:
            # The schedule is written first: if the call insert below is lost,
            # the scheduler creates the call from it.
            call.schedule_id = self._schedule(call, data, when, now)
        if not self._calls.insert(call):
            return CreatedCall(self._calls.get(call_id), replayed=True)
        # From here on the call exists and will be dialed: nothing below may
        # turn the response into an error a client would retry.
        note = {"scheduledFor": due.isoformat()} | ({"adjusted": when.note} if when and when.note else {})
        self._record_quietly(call.id, "created", source="api", to_status=CallStatus.INITIATED, data=note)
        if self._is_blocked(to):
            failed = fail_undialed(self._calls, self._event_log, call.id, FailureReason.DO_NOT_CALL,
                                   "the number is on the do-not-call list", event_type="skipped")
            return CreatedCall(failed or call, replayed=False)
        try:
            self._dispatcher.dispatch_if_due(call.id, now)
        except Exception:
            log.exception("dispatch of call %s left to the scheduler", call.id)
        return CreatedCall(self._calls.get(call.id) or call, replayed=False)

    def _schedule(self, call: Call, data: CallCreate, when: When, now) -> str:
        schedule = ScheduledCall(
            id=new_id("sch"), created_at=now, updated_at=now, call_id=call.id, to=call.to, agent_id=call.agent_id,
            scheduled_for=when.instant, local_time=when.local_time, timezone=when.timezone,
            respect_business_hours=data.business_hours is not None, business_hours=data.business_hours,
            recurring=Recurring(**data.recurring.model_dump()) if data.recurring else None,
            metadata=data.metadata or {}, next_run=when.instant)
        self._schedules.insert(schedule)
        return schedule.id

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
            if self._retries.cancel_pending(call):   # a failed call's pending retries
                self._event_log.record(call_id, "retries_cancelled", source="api")
                return call
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
        self._retries.cancel_pending(cancelled)
        return cancelled

    def _end_at_carrier(self, provider_name: str | None, provider_call_sid: str) -> None:
        try:
            self._provider_factory(provider_name).cancel_call(provider_call_sid)
        except CannotCancel:
            raise Conflict("the call has already ended at the carrier", field="status") from None
        except ProviderError as exc:
            raise ServiceUnavailable(f"the carrier could not be reached to cancel the call: {exc}") from None
