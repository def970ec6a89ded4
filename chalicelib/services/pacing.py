"""Pacing: how fast and how many calls go out.

- The account's calls-per-second limit (ACCOUNT_CPS, Twilio's default is 1):
  every dial, on every path, first reserves an instant in a shared sliding
  window, so no 1-second window ever holds more than ACCOUNT_CPS dials, across
  all concurrent dialers. A dialer waits (at most HORIZON) for its instant;
  when none is free that soon, the call is put back and tried again later.
- Concurrency slots: a call carrying `concurrencyKey` + `concurrencyLimit`
  (e.g. `batch:<id>`, `campaign:<id>`) holds one of the scope's slots from its
  dial to its end. The slot is released when the call ends (`on_call_ended`),
  and recovered by the sweep when no final callback came within the agent's
  maxCallDuration plus SLOT_MARGIN. A call without a free slot waits; a
  released slot wakes the longest-waiting call of its scope at once.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from .. import clock
from ..models.call import Call
from ..repositories.calls import CallRepository
from ..repositories.pacing import ConcurrencySlotRepository, RateLimitRepository, Reservation, Slot

log = logging.getLogger(__name__)

ACCOUNT_SCOPE = "account"
# The window is a second plus a guard: a dial placed a few milliseconds after
# its reserved instant must still not share a 1-second window with R others.
WINDOW = timedelta(seconds=1, milliseconds=50)
HORIZON = timedelta(seconds=2)           # the longest a dialer waits for its instant
# A dialer that wakes up later than this after its instant (a busy machine)
# takes a new instant instead: the window's guard must cover the lateness.
LATE = timedelta(milliseconds=20)
# A call put back comes again after a random wait that doubles each time it is
# put back (up to a cap), so a crowd of calls due at once (a batch resumed, a
# calling window opening) spreads out instead of retrying in lockstep.
RATE_SPREAD = timedelta(seconds=2)       # over the rate: next free instant + up to 2 s, 4 s, 8 s, ...
RATE_SPREAD_MAX = timedelta(minutes=2)
SLOT_WAIT = timedelta(seconds=30)        # no slot: 30-60 s, then 60-120 s, ... (or when a slot frees up)
SLOT_WAIT_MAX = timedelta(minutes=15)
SLOT_MARGIN = timedelta(minutes=5)       # ringing, queueing at the carrier, a late final callback


def backoff(base: timedelta, cap: timedelta, waits: int) -> timedelta:
    return min(cap, base * 2 ** min(waits, 20))


@dataclass(frozen=True)
class Admission:
    at: datetime | None             # dial at this instant; None: not now
    retry_at: datetime | None = None
    waiting_for_slot: bool = False
    reason: str = ""


class Pacer:
    def __init__(self, *, limits: RateLimitRepository, slots: ConcurrencySlotRepository, calls: CallRepository,
                 cps: int, wake: Callable[[str, datetime], object] = lambda call_id, now: None,
                 rng: random.Random | None = None, slot_wait: timedelta = SLOT_WAIT):
        self._limits = limits
        self._slots = slots
        self._calls = calls
        self._cps = cps
        self._wake = wake
        self._rng = rng or random.Random()
        self._slot_wait = slot_wait

    def admit(self, call: Call, *, max_call_duration: int, now: datetime) -> Admission:
        """May `call` be dialed now? Takes its concurrency slot (if it has a
        scope) and reserves its instant within the account's rate."""
        scoped = bool(call.concurrency_key and call.concurrency_limit)
        if scoped:
            expires = now + timedelta(seconds=max_call_duration) + SLOT_MARGIN
            if self._slots.acquire(call.concurrency_key, limit=call.concurrency_limit, holder=call.id,
                                   now=now, expires_at=expires) is None:
                wait = backoff(self._slot_wait, SLOT_WAIT_MAX, call.pacing_waits) * (1 + self._rng.random())
                return Admission(None, now + wait, waiting_for_slot=True,
                                 reason=f"all {call.concurrency_limit} slots of {call.concurrency_key} are in use")
        reservation = self.reserve_dial(now)
        if reservation.at is None:
            if scoped:
                self.release(call)
            spread = backoff(RATE_SPREAD, RATE_SPREAD_MAX, call.pacing_waits) * self._rng.random()
            return Admission(None, reservation.next_free + spread,
                             reason=f"the account's limit of {self._cps} calls per second is reached")
        return Admission(reservation.at)

    def reserve_dial(self, now: datetime) -> Reservation:
        """Reserve one dial instant within the account's calls-per-second limit
        (at most HORIZON ahead); `.at` is None when none is free that soon."""
        return self._limits.reserve(ACCOUNT_SCOPE, rate=self._cps, window=WINDOW, now=now, horizon=HORIZON)

    def release(self, call: Call) -> None:
        """Give back the slot of a call that is not dialed after all."""
        if call.concurrency_key:
            self._slots.release(call.concurrency_key, call.id)

    def on_call_ended(self, call: Call) -> None:
        """Release the call's slot (idempotent) and wake a call waiting for one."""
        if call.concurrency_key and self._slots.release(call.concurrency_key, call.id):
            self.wake_next(call.concurrency_key)

    def after_put_back(self, call: Call) -> None:
        """A call just registered as waiting for a slot. A slot released
        between its failed attempt and its registration woke nobody: look
        again, so no slot sits idle while calls wait."""
        if call.concurrency_key and self._slots.in_use(call.concurrency_key) < (call.concurrency_limit or 0):
            self.wake_next(call.concurrency_key)

    def wake_next(self, scope: str) -> str | None:
        now = clock.now()
        call_id = self._calls.wake_waiting(scope, now=now)
        if call_id:
            try:
                self._wake(call_id, now)
            except Exception:
                log.exception("waking call %s left to the scheduler", call_id)
        return call_id

    def recover_expired_slots(self, now: datetime | None = None) -> int:
        """The sweep: free slots whose call never reported its end in time."""
        now = now or clock.now()
        recovered = 0
        for slot in self._slots.expired(now=now):
            if self._slots.release(slot.scope, slot.holder):
                recovered += 1
                log.warning("recovered slot %s#%s held by %s past its expiry", slot.scope, slot.index, slot.holder)
                self.wake_next(slot.scope)
        return recovered

    def in_use(self, scope: str) -> int:
        return self._slots.in_use(scope)


__all__ = ["Admission", "Pacer", "Reservation", "Slot"]
