"""Time-driven work: schedules and retries become calls, and calls are sent
to the dial queue at their own second, inside calling hours.

Every call waits with `dispatchPending` until `scheduledFor` (immediate calls
are simply due now). The scheduler runs every minute; it claims whatever falls
due before its next run and sends each dial message with an SQS delay, so a
call is dialed at its time rather than up to a minute late.
"""
from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from .. import clock
from ..errors import Conflict, NotFound
from ..models.agent import Agent
from ..models.call import Call
from ..models.call_status import CallStatus, FailureReason
from ..models.schedule import ScheduledCall, ScheduledCallUpdate, ScheduleStatus
from ..queues import DialQueue
from ..repositories.agents import AgentRepository
from ..repositories.base import Page
from ..repositories.calls import CallRepository
from ..repositories.retries import RetryRepository
from ..repositories.schedules import ScheduleFilter, ScheduleRepository
from .. import timing
from . import calling_hours
from .events import EventLog
from .outcomes import fail_undialed
from .retries import RetryService
from .when import When

log = logging.getLogger(__name__)

TICK = timedelta(seconds=60)          # the scheduler's rate
# How far ahead each run dispatches: two runs' worth, so a slow or late run
# still sends every call before its time (SQS holds each until its second).
LOOKAHEAD = 2 * TICK
LEASE = timedelta(minutes=2)          # a run holding a schedule longer than this has died
MAX_SQS_DELAY = 900


def occurrence_call_id(first_call_id: str, n: int) -> str:
    # Deterministic per occurrence: a re-run after a crash finds the same call.
    return first_call_id if n == 1 else f"{first_call_id}_o{n}"


class Dispatcher:
    """Sends the dial message of calls whose time has come."""

    def __init__(self, *, calls: CallRepository, agents: AgentRepository, event_log: EventLog, queue: DialQueue,
                 lookahead: timedelta = LOOKAHEAD):
        self._calls = calls
        self._agents = agents
        self._event_log = event_log
        self._queue = queue
        self._lookahead = lookahead

    def dispatch_due(self, now: datetime, *, limit: int = 5000) -> int:
        """Send everything due before `now + lookahead`, earliest first, ten
        messages per SQS request."""
        horizon = now + self._lookahead
        agents: dict[str, Agent | None] = {}
        ready: list[tuple[Call, datetime, int]] = []
        sent = claimed = 0
        # Candidates in due order, each claimed by id: cheap, and a concurrent
        # run simply loses the ones it did not get.
        while claimed < limit and (ids := self._calls.due_dispatch_ids(horizon=horizon)):
            for call_id in ids:
                call = self._calls.claim_due_dispatch(horizon=horizon, now=now, call_id=call_id)
                if call is None:
                    continue
                claimed += 1
                if plan := self._plan(call, now, horizon, agents):
                    ready.append(plan)
                if len(ready) == 10:
                    sent += self._send(ready, now)
                    ready = []
        return sent + self._send(ready, now)

    @property
    def lookahead(self) -> timedelta:
        return self._lookahead

    def dispatch_ids(self, call_ids: list[str], now: datetime) -> int:
        """Dispatch these calls (those still waiting and due within the
        lookahead), ten messages per SQS request."""
        horizon = now + self._lookahead
        agents: dict[str, Agent | None] = {}
        ready: list[tuple[Call, datetime, int]] = []
        sent = 0
        for call_id in call_ids:
            call = self._calls.claim_due_dispatch(horizon=horizon, now=now, call_id=call_id)
            if call and (plan := self._plan(call, now, horizon, agents)):
                ready.append(plan)
            if len(ready) == 10:
                sent += self._send(ready, now)
                ready = []
        return sent + self._send(ready, now)

    def dispatch_if_due(self, call_id: str, now: datetime) -> bool:
        """Dispatch one call right away if it is due within the lookahead."""
        horizon = now + self._lookahead
        call = self._calls.claim_due_dispatch(horizon=horizon, now=now, call_id=call_id)
        plan = call and self._plan(call, now, horizon, {})
        return bool(plan and self._send([plan], now))

    def _plan(self, call: Call, now: datetime, horizon: datetime,
              agents: dict[str, Agent | None]) -> tuple[Call, datetime, int] | None:
        """When the call may go out, as (call, instant, SQS delay); None when it
        must wait for a later run (outside calling hours) or can never go."""
        if call.agent_id not in agents:
            agents[call.agent_id] = self._agents.get(call.agent_id)
        due = max(call.scheduled_for or now, now)
        allowed = calling_hours.next_allowed(call, agents[call.agent_id], due)
        if allowed is None:
            self._fail_no_window(call, now)
            return None
        if allowed > due + timedelta(seconds=1):
            self._calls.defer(call.id, until=allowed, now=now)
            self._event_log.record(call.id, "deferred", reason="outside calling hours",
                                   data={"from": due.isoformat(), "to": allowed.isoformat()})
            if allowed > horizon or not self._calls.claim_due_dispatch(horizon=horizon, now=now, call_id=call.id):
                return None
        # SQS delays are whole seconds: round down, and the dialer waits out
        # the fraction, so the call is placed at its time, not up to 1 s late.
        delay = min(MAX_SQS_DELAY, max(0, math.floor((allowed - now).total_seconds())))
        return call, allowed, delay

    def _send(self, plans: list[tuple[Call, datetime, int]], now: datetime) -> int:
        if not plans:
            return 0
        failed = set(self._queue.send_many([(call.id, delay) for call, _, delay in plans]))
        events = []
        for call, allowed, delay in plans:
            if call.id in failed:
                self._calls.defer(call.id, until=allowed, now=now)   # back to waiting: the next run sends it
                events.append(self._event_log.build(call.id, "enqueue_deferred", reason="the dial queue is unavailable"))
            else:
                events.append(self._event_log.build(call.id, "dispatched", data={"dueAt": allowed.isoformat(),
                                                                               "delaySeconds": delay}))
        self._event_log.record_many(events)
        return len(plans) - len(failed)

    def _fail_no_window(self, call: Call, now: datetime) -> None:
        fail_undialed(self._calls, self._event_log, call.id, FailureReason.CONFIGURATION_ERROR,
                      "calling hours never hold in all of the callee's time zones")


class Scheduler:
    """The every-minute run: materialise due schedules and retries into
    calls, then dispatch every call due before the next run."""

    def __init__(self, *, schedules: ScheduleRepository, retries: RetryRepository, calls: CallRepository,
                 event_log: EventLog, retry_service: RetryService, dispatcher: Dispatcher,
                 lookahead: timedelta = LOOKAHEAD):
        self._lookahead = lookahead
        self._schedules = schedules
        self._retries = retries
        self._calls = calls
        self._event_log = event_log
        self._retry_service = retry_service
        self._dispatcher = dispatcher

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        now = now or clock.now()
        horizon, lease_until = now + self._lookahead, now + LEASE
        schedules = self._run_due(self._schedules, self.run_schedule, now, horizon, lease_until)
        retries = self._run_due(self._retries, self.run_retry, now, horizon, lease_until)
        return {"schedules": schedules, "retries": retries, "dispatched": self._dispatcher.dispatch_due(now)}

    @staticmethod
    def _run_due(repository, run, now: datetime, horizon: datetime, lease_until: datetime) -> int:
        """Run what an earlier run left behind (expired lease), then everything
        due by `horizon`, earliest first, each claimed on its own."""
        done = 0
        while item := repository.claim_expired(now=now, lease_until=lease_until):
            run(item, now, lease_until)
            done += 1
        while ids := repository.due_ids(horizon=horizon):
            claimed = [item for item_id in ids
                       if (item := repository.claim(item_id, horizon=horizon, now=now, lease_until=lease_until))]
            for item in claimed:
                run(item, now, lease_until)
            done += len(claimed)
            if not claimed:
                break   # all taken by a concurrent run
        return done

    def run_schedule(self, schedule: ScheduledCall, now: datetime, lease_until: datetime) -> None:
        n = schedule.recurring.current_occurrence if schedule.recurring else 1
        self._ensure_occurrence_call(schedule, n, now)
        following = self._following(schedule, n)
        if following is None:
            self._schedules.finish(schedule.id, lease_until=lease_until, status=ScheduleStatus.COMPLETED, now=now)
            return
        self._schedules.advance(schedule.id, lease_until=lease_until, next_run=following, occurrence=n + 1,
                                call_id=occurrence_call_id(self._first_call_id(schedule), n + 1), now=now)

    def run_retry_now(self, attempt_id: str):
        now = clock.now()
        lease_until = now + LEASE
        attempt = self._retries.claim(attempt_id, now=now, lease_until=lease_until)
        if attempt is None:
            return None      # a scheduler run took it first
        self.run_retry(attempt, now, lease_until)
        if attempt_call := self._retries.get(attempt_id):
            if attempt_call.retry_call_id:
                self._dispatcher.dispatch_if_due(attempt_call.retry_call_id, now)
        return self._retries.get(attempt_id)

    def run_retry(self, attempt, now: datetime, lease_until: datetime) -> None:
        call = self._retry_service.materialize(attempt, now)
        if call is None:
            log.error("retry %s: original call %s is gone", attempt.id, attempt.original_call_id)
        self._retries.complete(attempt.id, lease_until=lease_until,
                               retry_call_id=call.id if call else "", now=now)

    def _ensure_occurrence_call(self, schedule: ScheduledCall, n: int, now: datetime) -> None:
        call_id = occurrence_call_id(self._first_call_id(schedule), n)
        if self._calls.get(call_id):
            return
        first = self._calls.get(self._first_call_id(schedule))
        call = Call(id=call_id, created_at=now, updated_at=now, to=schedule.to, agent_id=schedule.agent_id,
                    metadata=schedule.metadata, business_hours=schedule.business_hours,
                    retry_policy=first.retry_policy if first else None, schedule_id=schedule.id,
                    dynamic_variables=first.dynamic_variables if first else {},
                    carrier=first.carrier if first else None,
                    scheduled_for=schedule.next_run, dispatch_pending=True, enqueued_at=schedule.next_run,
                    dial_lease_until=clock.EPOCH, **{"from": first.from_ if first else None})
        if self._calls.insert(call):
            self._event_log.record(call.id, "created", source="internal", to_status=CallStatus.INITIATED,
                                   data={"scheduleId": schedule.id, "occurrence": n})

    @staticmethod
    def _first_call_id(schedule: ScheduledCall) -> str:
        return schedule.call_id.split("_o")[0]

    @staticmethod
    def _following(schedule: ScheduledCall, n: int) -> datetime | None:
        if not schedule.recurring:
            return None
        rule = schedule.recurring
        return timing.occurrence(datetime.fromisoformat(schedule.local_time), schedule.timezone,
                                 timing.Recurrence(frequency=rule.frequency, interval=rule.interval,
                                                   end_date=rule.end_date, max_occurrences=rule.max_occurrences,
                                                   by_weekday=tuple(rule.by_weekday) if rule.by_weekday else None),
                                 n + 1)


class ScheduleService:
    """The scheduled-calls API: list, read, reschedule, cancel."""

    def __init__(self, *, schedules: ScheduleRepository, calls: CallRepository, event_log: EventLog,
                 cancel_call, dispatcher: Dispatcher):
        self._schedules = schedules
        self._calls = calls
        self._event_log = event_log
        self._cancel_call = cancel_call
        self._dispatcher = dispatcher

    def get(self, schedule_id: str) -> ScheduledCall:
        schedule = self._schedules.get(schedule_id)
        if schedule is None:
            raise NotFound(f"no scheduled call {schedule_id}", field="scheduledCallId")
        return schedule

    def list(self, filters: ScheduleFilter, *, limit: int, cursor: str | None) -> Page[ScheduledCall]:
        return self._schedules.list(filters, limit=limit, cursor=cursor)

    def cancel(self, schedule_id: str) -> ScheduledCall:
        schedule = self.get(schedule_id)
        if not schedule.can_cancel:
            raise Conflict(f"a scheduled call that is {schedule.status} cannot be cancelled", field="status")
        now = clock.now()
        cancelled = self._schedules.update_pending(schedule_id, {"status": ScheduleStatus.CANCELLED.value,
                                                                 "processedAt": now}, now=now)
        if cancelled is None:
            raise Conflict("the scheduled call changed meanwhile; read it again", field="status")
        call = self._calls.get(schedule.call_id)
        if call and call.can_cancel:
            self._cancel_call(call.id)
        return cancelled

    def reschedule(self, schedule_id: str, data: ScheduledCallUpdate, when: When | None) -> ScheduledCall:
        """`when` is the new time, already resolved (None: keep the time)."""
        schedule = self.get(schedule_id)
        if not schedule.is_pending:
            raise Conflict(f"a scheduled call that is {schedule.status} cannot be changed", field="status")
        now = clock.now()
        fields: dict = {}
        if "business_hours" in data.model_fields_set:
            fields["businessHours"] = data.business_hours.model_dump(by_alias=True) if data.business_hours else None
            fields["respectBusinessHours"] = data.business_hours is not None
        if data.metadata is not None:
            fields["metadata"] = data.metadata
        if when is not None:
            fields.update(nextRun=when.instant, timezone=when.timezone, localTime=when.local_time)
            if not schedule.recurring or schedule.recurring.current_occurrence == 1:
                fields["scheduledFor"] = when.instant
        updated = self._schedules.update_pending(schedule_id, fields, now=now)
        if updated is None:
            raise Conflict("the scheduled call changed meanwhile; read it again", field="status")
        call = self._calls.get(updated.call_id)
        if call and call.status == CallStatus.INITIATED and not call.provider_call_sid:
            if "businessHours" in fields:
                self._calls.set_fields_while(call.id, [CallStatus.INITIATED],
                                             {"businessHours": fields["businessHours"]}, now=now)
            self._calls.defer(call.id, until=updated.next_run, now=now)
            self._event_log.record(call.id, "rescheduled", source="api", data={"to": updated.next_run.isoformat()})
            self._dispatcher.dispatch_if_due(call.id, now)
        return updated
