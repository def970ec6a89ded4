"""A rig for pacing under concurrency: several dial consumers (threads, each
with its own wiring, like separate Lambda containers) running the real dial
service against the database, fed by an in-process delayed queue, with a
carrier fake that records when each call was placed and ends it after a
while through the real status-callback service. Used by tests/api/test_pacing.py
and `scripts/bench.py pacing`."""
from __future__ import annotations

import heapq
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from chalicelib import clock
from chalicelib.clock import EPOCH
from chalicelib.container import Container
from chalicelib.ids import new_id
from chalicelib.models.agent import Agent
from chalicelib.models.call import Call
from chalicelib.models.call_status import TERMINAL
from chalicelib.models.policy import BusinessHours
from chalicelib.providers.base import DialRequest, DialResult
from chalicelib.services.pacing import Pacer

ROUND_THE_CLOCK = BusinessHours(start="00:00", end="00:00")


class LocalQueue:
    """SQS semantics that matter here: messages become visible after their delay."""

    def __init__(self):
        self._heap: list[tuple[float, int, str]] = []
        self._lock = threading.Condition()
        self._n = 0

    def send(self, call_id: str, *, delay_seconds: int = 0) -> None:
        self.send_many([(call_id, delay_seconds)])

    def send_many(self, messages: list[tuple[str, int]]) -> list[str]:
        with self._lock:
            for call_id, delay in messages:
                self._n += 1
                heapq.heappush(self._heap, (time.monotonic() + max(0, delay), self._n, call_id))
            self._lock.notify_all()
        return []

    def receive(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    return heapq.heappop(self._heap)[2]
                wait = min(deadline, self._heap[0][0] if self._heap else deadline) - now
                if now >= deadline:
                    return None
                self._lock.wait(max(0.001, wait))


@dataclass
class RecordingCarrier:
    """Places calls instantly, records when (monotonic seconds), keeps count
    of calls in flight per scope, and ends each call after `talk` seconds."""

    end_call: callable = None
    talk: tuple[float, float] = (0.5, 0.9)
    name: str = "simulated"
    dials: list[tuple[float, str]] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    max_in_flight: dict[str, int] = field(default_factory=dict)
    scopes: dict[str, str] = field(default_factory=dict)      # call id -> concurrency key
    lock: threading.Lock = field(default_factory=threading.Lock)
    timers: list[threading.Timer] = field(default_factory=list)

    def place_call(self, request: DialRequest) -> DialResult:
        sid = "CA" + new_id("x")[2:].replace("_", "")[:32]
        scope = self.scopes.get(request.call_id)
        with self.lock:
            self.dials.append((time.monotonic(), request.call_id))
            if scope:
                self.in_flight[scope] = self.in_flight.get(scope, 0) + 1
                self.max_in_flight[scope] = max(self.max_in_flight.get(scope, 0), self.in_flight[scope])
        timer = threading.Timer(random.uniform(*self.talk), self._hang_up, args=(request.call_id, sid, scope))
        self.timers.append(timer)
        timer.start()
        return DialResult(provider_call_sid=sid)

    def _hang_up(self, call_id: str, sid: str, scope: str | None) -> None:
        with self.lock:
            if scope:
                self.in_flight[scope] -= 1   # before we tell the app: it may start the next one at once
        self.end_call(call_id, sid)

    def cancel_call(self, provider_call_sid: str) -> None:
        pass

    def find_calls(self, *, to, from_, since):
        return []


def max_in_any_second(times: list[float]) -> int:
    """The most dials inside any 1-second window [t, t+1)."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


class PacingRig:
    def __init__(self, *, consumers: int, cps: int, slot_wait: float = 1.0, talk=(0.5, 0.9)):
        self.queue = LocalQueue()
        self.carrier = RecordingCarrier(talk=talk)
        self.cps = cps
        self.stop = threading.Event()
        self.containers = [self._container(slot_wait) for _ in range(consumers + 1)]
        api = self.containers[-1]     # the one that receives the carrier's callbacks
        self.carrier.end_call = lambda call_id, sid: api.call_progress.apply_twilio_status(
            call_id, {"CallSid": sid, "CallStatus": "completed", "CallDuration": "1"})
        self.threads = [threading.Thread(target=self._consume, args=(c,), daemon=True)
                        for c in self.containers[:consumers]]
        self.outcomes: list[str] = []

    def _container(self, slot_wait: float) -> Container:
        container = Container()
        container.__dict__["dial_queue"] = self.queue
        container._providers["simulated"] = self.carrier
        container.__dict__["pacer"] = Pacer(limits=container.rate_limits, slots=container.concurrency_slots,
                                            calls=container.calls, cps=self.cps,
                                            wake=container.dispatcher.dispatch_if_due,
                                            slot_wait=timedelta(seconds=slot_wait))
        container.dial_service, container.call_progress     # built before the threads start
        return container

    def add_calls(self, n: int, *, concurrency_key: str | None = None, limit: int | None = None) -> list[str]:
        container = self.containers[0]
        agent = container.agents.get("agt_rig")
        now = clock.now()
        if agent is None:
            container.agents.insert(Agent(id="agt_rig", created_at=now, updated_at=now, name="Rig",
                                          from_number="+14155550100", business_hours=ROUND_THE_CLOCK))
        calls = [Call(id=new_id("call"), created_at=now, updated_at=now, to=f"+1415555{1000 + i:04d}",
                      agent_id="agt_rig", scheduled_for=now, dispatch_pending=True, enqueued_at=now,
                      dial_lease_until=EPOCH, concurrency_key=concurrency_key, concurrency_limit=limit,
                      **{"from": "+14155550100"}) for i in range(n)]
        container.calls.insert_many(calls)
        for call in calls:
            if concurrency_key:
                self.carrier.scopes[call.id] = concurrency_key
        return [c.id for c in calls]

    def run(self, call_ids: list[str], *, timeout: float = 60) -> float:
        """Dispatch the calls, let the consumers work until every call is
        final; returns the elapsed seconds."""
        started = time.monotonic()
        ticker = threading.Thread(target=self._tick, daemon=True)
        for thread in self.threads + [ticker]:
            thread.start()
        self.containers[0].dispatcher.dispatch_ids(call_ids, clock.now())
        calls = self.containers[0].calls
        try:
            while time.monotonic() - started < timeout:
                if all(calls.get(call_id).status in TERMINAL for call_id in call_ids):
                    break
                time.sleep(0.2)
        finally:
            self.stop.set()
            for thread in self.threads + [ticker]:
                thread.join(timeout=5)
            for timer in self.carrier.timers:
                timer.join(timeout=5)
        return time.monotonic() - started

    def _consume(self, container: Container) -> None:
        while not self.stop.is_set():
            call_id = self.queue.receive(timeout=0.2)
            if call_id:
                self.outcomes.append(container.dial_service.dial(call_id))

    def _tick(self) -> None:
        """The scheduler's dispatch, faster than once a minute (a slot waiter
        whose wake-up was missed comes back after `slot_wait`)."""
        while not self.stop.wait(0.5):
            self.containers[-1].dispatcher.dispatch_due(clock.now())
