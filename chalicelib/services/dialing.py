"""Turning a queued call into a carrier call, exactly once."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Callable, Iterable

from .. import clock
from ..clock import EPOCH
from ..models.call import Call
from ..models.call_status import CallStatus, FailureReason
from ..providers.base import (Conversation, DialRequest, DialResult, OutcomeUnknown, ProviderError, ProviderRejected,
                              ProviderUnavailable, RateLimited, TelephonyProvider)
from ..queues import DialQueue, QueueUnavailable, parse_message
from ..repositories.agents import AgentRepository
from ..repositories.call_events import CallEventRepository
from ..repositories.calls import CallRepository
from . import calling_hours
from ..logs import log_context
from .call_progress import fill
from .events import EventLog
from .outcomes import fail_undialed
from .pacing import HORIZON, LATE, Admission, Pacer

log = logging.getLogger(__name__)

# A call not dialed this long after its dial message was sent has lost it.
UNDIALED_GRACE = timedelta(minutes=2)
# SQS delays are whole seconds; a message this early is on time.
EARLY_TOLERANCE = timedelta(seconds=2)
# Pauses between attempts at the carrier within one dial (then the call fails
# and the retry policy takes over, minutes later).
PLACE_BACKOFF = (0.5, 2.0)
# A call of a paused batch (or campaign) looks again this much later.
PAUSED_RECHECK = timedelta(seconds=60)


class RunState(StrEnum):
    """What the run a call belongs to (batch, campaign) allows right now."""
    GO = "go"
    PAUSED = "paused"        # hold new dials; they go when it resumes
    CANCELLED = "cancelled"  # never dial: the call is cancelled


class DialOutcome(StrEnum):
    DIALED = "dialed"
    DEFERRED = "deferred"  # not its time, outside calling hours, paused, or paced: put back
    CANCELLED = "cancelled"  # its batch/campaign was cancelled
    ADOPTED = "adopted"    # an earlier, interrupted attempt had placed it after all
    SKIPPED = "skipped"    # already dialed, finished, cancelled, or claimed by another worker
    FAILED = "failed"      # the carrier refused it; the call is failed


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    body: str


class DialService:
    def __init__(self, *, calls: CallRepository, events: CallEventRepository, agents: AgentRepository,
                 provider: TelephonyProvider | None = None, public_url: Callable[[str], str], lease_seconds: int,
                 providers: Callable[[str | None], TelephonyProvider] | None = None,
                 record_calls: bool = False, exotel_webhook_token: str | None = None,
                 on_call_ended: Callable[[Call], None] = lambda call: None,
                 is_blocked: Callable[[str], bool] = lambda phone: False,
                 pacer: Pacer | None = None,
                 run_state: Callable[[Call], RunState] = lambda call: RunState.GO,
                 redispatch: Callable[[str, datetime], object] = lambda call_id, now: None,
                 on_batch_chunk: Callable[[str], object] | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        # `providers` resolves a carrier name (the call's, else the agent's;
        # None: the default) to the provider that dials it.
        self._providers = providers or (lambda carrier: provider)
        self._record_calls = record_calls
        self._exotel_token = exotel_webhook_token
        self._is_blocked = is_blocked
        self._pacer = pacer
        self._run_state = run_state
        self._redispatch = redispatch
        self._on_batch_chunk = on_batch_chunk
        self._calls = calls
        self._on_call_ended = on_call_ended
        self._sleep = sleep
        self._event_log = EventLog(events)
        self._agents = agents
        self._public_url = public_url
        self._lease = timedelta(seconds=lease_seconds)

    def process_batch(self, messages: Iterable[QueueMessage]) -> list[str]:
        """Dial each message's call; return the ids of messages that must be
        redelivered (SQS partial batch response), so one failure does not
        send the whole batch round again."""
        failed = []
        for message in messages:
            try:
                kind, item_id = parse_message(message.body)
                if kind == "batchChunk" and self._on_batch_chunk is not None:
                    with log_context(batchChunk=item_id, messageId=message.message_id):
                        log.info("batch chunk: %s calls", self._on_batch_chunk(item_id))
                    continue
                if kind != "call":
                    raise ValueError(f"no handler for {kind} messages")
                with log_context(callId=item_id, messageId=message.message_id):
                    log.info("dial %s", self.dial(item_id))
            except Exception:
                log.exception("dial message %s failed", message.message_id)
                failed.append(message.message_id)
        return failed

    def dial(self, call_id: str) -> DialOutcome:
        now = clock.now()
        call = self._calls.claim_for_dial(call_id, now=now, lease_until=now + self._lease)
        if call is None:
            return DialOutcome.SKIPPED

        agent = self._agents.get(call.agent_id)
        provider = self._providers(call.carrier or (agent.carrier if agent else None))
        if call.dial_attempts > 1 and self._adopt_earlier_attempt(call, provider):
            return DialOutcome.ADOPTED

        if agent is None:
            self._fail(call_id, ProviderRejected(f"agent {call.agent_id} does not exist"))
            return DialOutcome.FAILED
        if self._is_blocked(call.to):
            fail_undialed(self._calls, self._event_log, call_id, FailureReason.DO_NOT_CALL,
                          "the number is on the do-not-call list", event_type="skipped",
                          on_ended=self._on_call_ended)
            return DialOutcome.FAILED
        # The last line of defence: a message that arrives before the call's
        # time (it was rescheduled) or outside calling hours must not dial.
        allowed = calling_hours.next_allowed(call, agent, max(now, call.scheduled_for or now))
        if allowed is None:
            self._fail(call_id, ProviderRejected("calling hours never hold in all of the callee's time zones"))
            return DialOutcome.FAILED
        if allowed > now + EARLY_TOLERANCE:
            return self._defer(call, allowed, now)
        state = self._run_state(call)
        if state == RunState.CANCELLED:
            return self._cancel_for_run(call)
        if state == RunState.PAUSED:
            return self._put_back(call, now + PAUSED_RECHECK, now, event_type="held",
                                  reason="its batch or campaign is paused")
        if allowed > now:
            # Dispatch rounds SQS delays down to whole seconds: wait out the
            # rest, so the call is placed at its second and never before.
            self._sleep((allowed - now).total_seconds())
        if self._pacer is not None:
            admission = self._wait_for_turn(call, agent.config.max_call_duration)
            if admission.at is None:
                return self._wait_for_pacing(call, admission)

        request = self._request(call, agent, provider)
        try:
            result = self._place(request, call, provider)
        except OutcomeUnknown:
            # Keep the claim: when it expires the next attempt reconciles first.
            raise
        except ProviderError as exc:
            self._fail(call_id, exc)
            return DialOutcome.FAILED
        if not self._record_dialed(call_id, result.provider_call_sid, provider, event_type="dialed",
                                   conversation_id=result.conversation_id):
            # Cannot happen while the claim holds; if it does, say so loudly.
            log.error("call %s: carrier call %s placed but not recorded", call_id, result.provider_call_sid)
        return DialOutcome.DIALED

    def _request(self, call: Call, agent, provider: TelephonyProvider) -> DialRequest:
        if provider.name == "exotel":
            # Exotel does not sign callbacks: the route carries the deployment's token.
            status_path = f"webhooks/exotel/{self._exotel_token}/status/{call.id}"
            recording_path = status_path   # Exotel reports RecordingUrl with the final status
        else:
            status_path = f"webhooks/twilio/status/{call.id}"
            recording_path = f"webhooks/twilio/recording/{call.id}"
        conversation = None
        if agent.elevenlabs.agent_id:
            conversation = Conversation(elevenlabs_agent_id=agent.elevenlabs.agent_id,
                                        first_message=fill(agent.config.outbound_greeting, agent),
                                        dynamic_variables=dict(call.dynamic_variables),
                                        phone_number_id=agent.elevenlabs.phone_number_id)
        return DialRequest(
            call_id=call.id,
            to=call.to,
            from_=call.from_,
            answer_url=self._public_url(f"twiml/{call.id}"),
            status_callback_url=self._public_url(status_path),
            time_limit_seconds=agent.config.max_call_duration,
            recording_callback_url=self._public_url(recording_path) if self._record_calls else None,
            conversation=conversation,
        )

    def _defer(self, call: Call, until: datetime, now: datetime) -> DialOutcome:
        self._calls.defer(call.id, until=until, now=now, undo_claim=True)
        self._event_log.record(call.id, "deferred", reason="not due yet or outside calling hours",
                               data={"to": until.isoformat()})
        return DialOutcome.DEFERRED

    def _wait_for_turn(self, call: Call, max_call_duration: int) -> Admission:
        """Take the call's slot and dial instant, and wait for the instant (at
        most a couple of seconds). Woken too late, take a new instant: a late
        dial could share a 1-second window with the next ones."""
        for _ in range(3):
            admission = self._pacer.admit(call, max_call_duration=max_call_duration, now=clock.now())
            if admission.at is None:
                return admission
            if (wait := (admission.at - clock.now()).total_seconds()) > 0:
                self._sleep(wait)
            if clock.now() <= admission.at + LATE:
                return admission
            log.warning("call %s woke %s after its dial instant; taking another", call.id, clock.now() - admission.at)
        self._pacer.release(call)
        return Admission(None, clock.now() + HORIZON, reason="the dialer kept waking up late")

    def _wait_for_pacing(self, call: Call, admission: Admission) -> DialOutcome:
        """Not now (the account's rate, or no concurrency slot): put the call
        back for `retry_at`. A rate-limited call goes straight back on the
        queue with a delay; one waiting for a slot is woken when one frees up
        (else the scheduler sends it at `retry_at`)."""
        now = clock.now()
        outcome = self._put_back(call, admission.retry_at, now, event_type="paced", reason=admission.reason,
                                 waiting_for_slot=admission.waiting_for_slot, paced=True)
        try:
            if admission.waiting_for_slot:
                self._pacer.after_put_back(call)
            else:
                self._redispatch(call.id, now)
        except Exception:
            log.exception("re-dispatch of call %s left to the scheduler", call.id)
        return outcome

    def _put_back(self, call: Call, until: datetime, now: datetime, *, event_type: str, reason: str,
                  waiting_for_slot: bool | None = None, paced: bool = False) -> DialOutcome:
        self._calls.defer(call.id, until=until, now=now, undo_claim=True, waiting_for_slot=waiting_for_slot,
                          paced=paced)
        self._event_log.record(call.id, event_type, reason=reason, data={"to": until.isoformat()})
        return DialOutcome.DEFERRED

    def _cancel_for_run(self, call: Call) -> DialOutcome:
        now = clock.now()
        cancelled = self._calls.transition(call.id, to=CallStatus.CANCELLED, allowed_from=[CallStatus.INITIATED],
                                           fields={"failureReason": FailureReason.CANCELLED.value, "endedAt": now},
                                           now=now)
        self._event_log.record(call.id, "cancelled", from_status=CallStatus.INITIATED,
                               to_status=CallStatus.CANCELLED, applied=cancelled is not None,
                               reason="its batch or campaign was cancelled")
        self._calls.release_claim(call.id, now=now)
        return DialOutcome.CANCELLED

    def _place(self, request: DialRequest, call: Call, provider: TelephonyProvider) -> DialResult:
        """Ask the carrier, retrying what is safe to retry with backoff: a
        request that never arrived (5xx, refused connection, rate limit), or
        one whose outcome is unknown after asking the carrier whether the call
        exists (it may have been placed: then it is ours)."""
        error: ProviderError | None = None
        for attempt, pause in enumerate((*PLACE_BACKOFF, None)):
            try:
                return provider.place_call(request)
            except (ProviderUnavailable, RateLimited) as exc:
                error = exc
            except OutcomeUnknown as exc:
                error = exc
                self._event_log.record(call.id, "dial_outcome_unknown", reason=str(exc)[:500])
                placed = self._unowned_calls(call, provider)
                if placed:
                    return DialResult(provider_call_sid=placed[0])
            self._event_log.record(call.id, "dial_retry", reason=str(error)[:500], data={"attempt": attempt + 1})
            if pause is not None:
                self._sleep(pause)
        raise error

    def _unowned_calls(self, call: Call, provider: TelephonyProvider) -> list[str]:
        since = call.dial_claimed_at or call.created_at
        return [sid for sid in provider.find_calls(to=call.to, from_=call.from_, since=since)
                if self._calls.find_by_provider_sid(sid) is None]

    def _adopt_earlier_attempt(self, call, provider: TelephonyProvider) -> bool:
        """An earlier claim expired without recording a carrier call; that
        worker may have placed it before dying. Adopt such a call (one from the
        same caller ID to the same number since the first claim, not owned by
        another of our calls) instead of dialing the person again."""
        return any(self._record_dialed(call.id, sid, provider, event_type="dial_reconciled")
                   for sid in self._unowned_calls(call, provider))

    def _record_dialed(self, call_id: str, provider_call_sid: str, provider: TelephonyProvider, *, event_type: str,
                       conversation_id: str | None = None) -> bool:
        call = self._calls.record_dialed(call_id, provider=provider.name, provider_call_sid=provider_call_sid,
                                         now=clock.now(), conversation_id=conversation_id)
        if call is None:
            return False
        self._event_log.record(call_id, event_type, provider_call_sid=provider_call_sid)
        if call.status == CallStatus.CANCELLED:
            # Cancelled while we were dialing: hang up what we just placed.
            try:
                provider.cancel_call(provider_call_sid)
                self._event_log.record(call_id, "provider_cancelled", provider_call_sid=provider_call_sid)
            except ProviderError as exc:
                self._event_log.record(call_id, "provider_cancel_failed", reason=str(exc)[:500])
        return True

    def _fail(self, call_id: str, exc: ProviderError) -> None:
        fail_undialed(self._calls, self._event_log, call_id, exc.reason, str(exc), data={"code": exc.code},
                      on_ended=self._on_call_ended)
        self._calls.release_claim(call_id, now=clock.now())

    def enqueue_undialed(self, queue: DialQueue, *, limit: int = 500) -> int:
        """Safety net run by the scheduler: re-send the dial message of calls
        whose message was never sent, was lost, or whose claim expired (a
        crashed worker). Each call is re-sent at most once per grace period,
        so a backed-up queue is not flooded; claims make extras harmless."""
        now = clock.now()
        cutoff = now - UNDIALED_GRACE
        sent = 0
        for call_id in self._calls.find_undialed(now=now, enqueued_before=cutoff, limit=limit):
            if not self._calls.mark_enqueued(call_id, at=now, if_before=cutoff):
                continue   # another sweep took it
            try:
                queue.send(call_id)
                sent += 1
            except QueueUnavailable as exc:
                self._calls.mark_enqueued(call_id, at=EPOCH)
                log.warning("sweep could not enqueue: %s", exc)
                break
        return sent
