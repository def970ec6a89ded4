"""Batch calls: one request, up to 10,000 recipients, one agent.

The request is checked whole: any invalid row rejects the batch with every
bad row listed (422 `invalid_rows`), so a corrected resubmission never calls
anyone twice. Numbers on the do-not-call list and repeated numbers are
skipped (listed on the batch with their reason). The recipients are stored in
chunks; one queue message per chunk turns it into calls with one bulk insert.
Calls are spaced at the account's calls-per-second rate from the batch's
start, so the dial queue holds only what is about to go out.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from pydantic import ValidationError

from .. import clock
from ..clock import EPOCH
from ..errors import Conflict, InvalidRows, NotFound, ValidationFailed
from ..ids import new_id
from ..models.batch import (MAX_RECIPIENTS, Batch, BatchOptions, BatchRecipient, BatchStatus, SkippedRecipient,
                            batch_predecessors)
from ..models.call import Call
from ..models.call_status import TERMINAL, CallStatus, FailureReason
from ..phone import to_e164
from ..queues import DialQueue, QueueUnavailable
from ..repositories.agents import AgentRepository
from ..repositories.batches import BatchRepository
from ..repositories.call_stats import CallStatsRepository, StatsFilter
from ..repositories.calls import CallRepository
from ..repositories.retries import RetryRepository
from .dialing import RunState
from .events import EventLog
from .idempotency import Idempotency
from .scheduling import Dispatcher
from .when import resolve_when

log = logging.getLogger(__name__)

CHUNK = 500                                  # recipients per fan-out message (one bulk insert)
CHUNK_GRACE = timedelta(minutes=2)           # a chunk not fanned out this long after its message is re-sent
ID_PAGE = 1000


@dataclass(frozen=True)
class CreatedBatch:
    batch: Batch
    replayed: bool


def batch_call_id(batch_id: str, seq: int) -> str:
    # Deterministic: a redelivered chunk finds its calls instead of adding more.
    return f"call_{batch_id.removeprefix('bat_')}_{seq}"


class BatchService:
    def __init__(self, *, batches: BatchRepository, calls: CallRepository, agents: AgentRepository,
                 retries: RetryRepository, event_log: EventLog, idempotency: Idempotency, queue: DialQueue,
                 dispatcher: Dispatcher, blocked_among: Callable[[list[str]], set[str]], cps: int,
                 default_region: str, default_from_number: str | None, stats: CallStatsRepository):
        self._stats = stats           # the aggregation layer GET /calls/stats and the roll-ups use
        self._batches = batches
        self._calls = calls
        self._agents = agents
        self._retries = retries
        self._event_log = event_log
        self._idempotency = idempotency
        self._queue = queue
        self._dispatcher = dispatcher
        self._blocked_among = blocked_among
        self._cps = cps
        self._region = default_region
        self._default_from = default_from_number

    # -- create

    def create(self, options: BatchOptions, rows: Any, *, idempotency_key: str | None = None) -> CreatedBatch:
        agent = self._agents.get(options.agent_id)
        if agent is None:
            raise ValidationFailed(f"no agent {options.agent_id}", field="agentId")
        if not (agent.from_number or self._default_from):
            raise ValidationFailed("the agent has no fromNumber and no default caller ID is configured",
                                   field="agentId")
        now = clock.now()
        when = resolve_when(options.scheduled_for, options.timezone, now=now)
        recipients = self._check_rows(rows)
        accepted, skipped = self._skip_unwanted(recipients)

        request = options.model_dump(mode="json", by_alias=True) | {
            "recipients": [[r["to"], r.get("variables")] for r in recipients]}
        batch_id, seen = self._idempotency.claim("batches", idempotency_key, request, new_id("bat"))
        if seen and (existing := self._batches.get(batch_id)):
            return CreatedBatch(existing, replayed=True)

        start = when.instant if when else now
        batch = Batch(id=batch_id, created_at=now, updated_at=now, agent_id=agent.id, size=len(accepted),
                      scheduled_for=start, timezone=when.timezone if when else None,
                      max_concurrent_calls=options.max_concurrent_calls,
                      chunks=-(-len(accepted) // CHUNK), skipped=skipped, metadata=options.metadata or {})
        chunks = [{"_id": f"{batch_id}:{n}", "batchId": batch_id, "index": n, "done": False, "enqueuedAt": EPOCH,
                   "createdAt": now, "options": options.model_dump(mode="json", by_alias=True, exclude_none=True),
                   "recipients": accepted[n * CHUNK:(n + 1) * CHUNK]}
                  for n in range(batch.chunks)]
        # Chunks first: once the batch exists, all of its recipients do.
        if chunks:
            self._batches.insert_chunks(chunks)
        if not self._batches.insert(batch):
            return CreatedBatch(self._batches.get(batch_id), replayed=True)
        for chunk in chunks:
            self._send_chunk(chunk["_id"], now)
        return CreatedBatch(batch, replayed=False)

    def _check_rows(self, rows: Any) -> list[dict]:
        """Every row as {seq?, index, to (E.164), variables?}; InvalidRows naming
        each bad one."""
        if not isinstance(rows, list) or not rows:
            raise ValidationFailed("a non-empty array of {to, variables?}", field="recipients")
        if len(rows) > MAX_RECIPIENTS:
            raise ValidationFailed(f"at most {MAX_RECIPIENTS} recipients per batch", field="recipients")
        good, bad = [], []
        for index, row in enumerate(rows):
            try:
                recipient = BatchRecipient.model_validate(row)
                to = to_e164(recipient.to, default_region=self._region, field="to")
            except ValidationError as exc:
                error = exc.errors()[0]
                field = ".".join(str(p) for p in error["loc"][:2]) or None   # e.g. variables.<name>
                reason = "unknown field" if error["type"] == "extra_forbidden" else error["msg"].removeprefix(
                    "Value error, ")
                bad.append({"index": index, "field": field, "reason": reason})
                continue
            except ValidationFailed as exc:
                bad.append({"index": index, "field": exc.field, "reason": exc.message})
                continue
            good.append({"index": index, "to": to} | ({"variables": recipient.variables}
                                                       if recipient.variables is not None else {}))
        if bad:
            raise InvalidRows(f"{len(bad)} of {len(rows)} recipients are invalid; nothing was created", bad,
                              field="recipients")
        return good

    def _skip_unwanted(self, recipients: list[dict]) -> tuple[list[dict], list[SkippedRecipient]]:
        """Repeated numbers (the first row wins) and do-not-call numbers are
        skipped and reported, not called."""
        listed = self._blocked_among(sorted({r["to"] for r in recipients}))
        seen: set[str] = set()
        accepted, skipped = [], []
        for recipient in recipients:
            if recipient["to"] in listed:
                skipped.append(SkippedRecipient(index=recipient["index"], to=recipient["to"],
                                                reason=FailureReason.DO_NOT_CALL.value))
            elif recipient["to"] in seen:
                skipped.append(SkippedRecipient(index=recipient["index"], to=recipient["to"], reason="duplicate"))
            else:
                seen.add(recipient["to"])
                accepted.append({**recipient, "seq": len(accepted)})
        return accepted, skipped

    def _send_chunk(self, chunk_id: str, now: datetime) -> None:
        try:
            self._queue.send_chunk(chunk_id)
            self._batches.mark_chunk(chunk_id, enqueued_at=now)
        except QueueUnavailable as exc:
            log.warning("batch chunk %s left to the sweep: %s", chunk_id, exc)

    # -- fan-out (one queue message per chunk)

    def fan_out(self, chunk_id: str) -> int:
        """Turn a chunk of recipients into calls (one bulk insert), and send
        the dial messages of those due soon. Safe to run twice."""
        chunk = self._batches.get_chunk(chunk_id)
        if chunk is None or chunk["done"]:
            return 0
        batch = self._batches.get(chunk["batchId"])
        if batch is None:   # the request died before its batch was written: nothing to call
            self._batches.mark_chunk(chunk_id, done=True)
            return 0
        agent = self._agents.get(batch.agent_id)
        options = BatchOptions.model_validate(chunk["options"])
        now = clock.now()
        calls = [self._call(batch, options, agent.from_number if agent else None, recipient, now)
                 for recipient in chunk["recipients"]]
        existing = set(self._calls.batch_call_ids_among([c.id for c in calls]))
        fresh = [c for c in calls if c.id not in existing]
        self._calls.insert_many(fresh)
        self._event_log.record_many([self._event_log.build(
            c.id, "created", source="api", to_status=CallStatus(c.status),
            data={"batchId": batch.id, "index": c.metadata.get("batchIndex"), "scheduledFor": c.scheduled_for.isoformat()})
            for c in fresh])
        self._batches.mark_chunk(chunk_id, done=True)
        if batch.status == BatchStatus.ACTIVE:
            horizon = now + self._dispatcher.lookahead
            self._dispatcher.dispatch_ids([c.id for c in fresh if c.scheduled_for <= horizon], now)
        return len(fresh)

    def _call(self, batch: Batch, options: BatchOptions, from_number: str | None, recipient: dict,
              now: datetime) -> Call:
        seq = recipient["seq"]
        due = batch.scheduled_for + timedelta(milliseconds=round(seq * 1000 / self._cps))
        call = Call(id=batch_call_id(batch.id, seq), created_at=now, updated_at=now, to=recipient["to"],
                    agent_id=batch.agent_id, batch_id=batch.id, dynamic_variables=recipient.get("variables") or {},
                    metadata={**batch.metadata, "batchIndex": recipient["index"]},
                    business_hours=options.business_hours, retry_policy=options.retry_policy,
                    scheduled_for=due, dispatch_pending=True, enqueued_at=due, dial_lease_until=EPOCH,
                    **{"from": from_number or self._default_from})
        if batch.max_concurrent_calls:
            call.concurrency_key, call.concurrency_limit = batch.concurrency_key, batch.max_concurrent_calls
        if batch.status == BatchStatus.CANCELLED:
            call.status, call.failure_reason, call.ended_at = CallStatus.CANCELLED, FailureReason.CANCELLED, now
            call.dispatch_pending = False
        return call

    def resend_stale_chunks(self, *, limit: int = 50) -> int:
        """The sweep: re-send chunks whose message never went or was lost."""
        now = clock.now()
        sent = 0
        while sent < limit and (chunk_id := self._batches.claim_stale_chunk(enqueued_before=now - CHUNK_GRACE,
                                                                             now=now)):
            self._send_chunk(chunk_id, now)
            sent += 1
        return sent

    # -- read, pause, resume, cancel

    def get(self, batch_id: str) -> tuple[Batch, dict]:
        batch = self._require(batch_id)
        where = StatsFilter(batch_id=batch_id)
        everything, retries = self._stats.by_status(where), self._stats.by_status(where, retries_only=True)
        by_status = {status: count - retries.get(status, 0) for status, count in everything.items()
                     if count - retries.get(status, 0)}
        created = sum(by_status.values())
        unfinished = sum(count for status, count in everything.items() if status not in TERMINAL)
        if batch.status == BatchStatus.ACTIVE and created == batch.size and unfinished == 0 \
                and not self._retry_pending(batch_id):
            batch = self._batches.transition(batch_id, to=BatchStatus.COMPLETED, allowed_from=[BatchStatus.ACTIVE],
                                             fields={"completedAt": clock.now()}, now=clock.now()) or batch
        progress = {"size": batch.size, "created": created, "skipped": len(batch.skipped),
                    "finished": created - sum(c for s, c in by_status.items() if s not in TERMINAL),
                    "byStatus": by_status, "retries": retries}
        return batch, progress

    def _retry_pending(self, batch_id: str) -> bool:
        return any(self._retries.any_pending(page) for page in self._first_attempt_pages(batch_id))

    def _first_attempt_pages(self, batch_id: str):
        ids = self._calls.batch_call_ids(batch_id, first_attempts_only=True)
        for start in range(0, len(ids), ID_PAGE):
            yield ids[start:start + ID_PAGE]

    def pause(self, batch_id: str) -> Batch:
        return self._move(batch_id, BatchStatus.PAUSED)

    def resume(self, batch_id: str) -> Batch:
        batch = self._move(batch_id, BatchStatus.ACTIVE)
        # Calls held while paused look again within a minute; send what is due now.
        self._dispatcher.dispatch_due(clock.now())
        return batch

    def cancel(self, batch_id: str) -> tuple[Batch, dict]:
        """Cancel every call not dialed yet and every pending retry; calls in
        progress finish. Cancelling twice is fine."""
        current = self._require(batch_id)
        if current.status == BatchStatus.CANCELLED:
            return current, {"cancelledCalls": 0, "cancelledRetries": 0}
        now = clock.now()
        batch = self._move(batch_id, BatchStatus.CANCELLED, fields={"cancelledAt": now})
        cancelled = 0
        for _ in range(batch.size // ID_PAGE + 100):    # bounded: each round cancels or skips what it found
            ids = self._calls.batch_call_ids(batch_id, undialed_only=True, limit=ID_PAGE)
            if not ids:
                break
            done = self._calls.cancel_undialed(ids, now=now)
            cancelled += len(done)
            self._event_log.record_many([self._event_log.build(
                call_id, "cancelled", source="api", from_status=CallStatus.INITIATED, to_status=CallStatus.CANCELLED,
                reason="the batch was cancelled") for call_id in done])
        retries = sum(self._retries.cancel_pending_many(page, now=now) for page in self._first_attempt_pages(batch_id))
        return batch, {"cancelledCalls": cancelled, "cancelledRetries": retries}

    def _move(self, batch_id: str, to: BatchStatus, fields: dict | None = None) -> Batch:
        now = clock.now()
        moved = self._batches.transition(batch_id, to=to, allowed_from=batch_predecessors(to), fields=fields, now=now)
        if moved is None:
            current = self._require(batch_id)
            raise Conflict(f"a batch that is {current.status} cannot become {to}", field="status")
        return moved

    def _require(self, batch_id: str) -> Batch:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id}", field="batchId")
        return batch

    # -- for the dialer

    def run_state(self, call: Call) -> RunState:
        if not call.batch_id:
            return RunState.GO
        status = self._batches.status_of(call.batch_id)
        if status == BatchStatus.CANCELLED:
            return RunState.CANCELLED
        if status == BatchStatus.PAUSED:
            return RunState.PAUSED
        return RunState.GO
