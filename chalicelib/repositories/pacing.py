"""Shared pacing state: the account's recent dial instants (calls per second)
and concurrency slots (calls in flight per scope). Every rule here holds
across any number of concurrent dialers because each change is one
conditional write on one document."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from ..clock import EPOCH

CAS_ATTEMPTS = 20


def _ms(value: datetime) -> int:
    return int((value - EPOCH) / timedelta(milliseconds=1))


def _duration_ms(value: timedelta) -> int:
    return int(value / timedelta(milliseconds=1))


def _instant(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True)
class Reservation:
    at: datetime | None      # the reserved dial instant; None when none is free within the horizon
    next_free: datetime      # the earliest instant that could be reserved


class RateLimitRepository:
    """A sliding-window limit: at most `rate` reservations in any `window`.

    One document per scope holds the last `rate` reserved instants (epoch ms,
    ascending) and a version; a reservation is a compare-and-set on the
    version, so concurrent dialers never both take the same place."""

    def __init__(self, db: Database):
        self._limits = db["rate_limits"]

    def reserve(self, key: str, *, rate: int, window: timedelta, now: datetime,
                horizon: timedelta) -> Reservation:
        now_ms, window_ms, horizon_ms = _ms(now), _duration_ms(window), _duration_ms(horizon)
        for _ in range(CAS_ATTEMPTS):
            doc = self._limits.find_one({"_id": key})
            recent = list(doc["recent"])[-rate:] if doc else []
            at = max([now_ms] + recent[-1:])
            if len(recent) >= rate:
                at = max(at, recent[-rate] + window_ms)
            if at > now_ms + horizon_ms:
                return Reservation(None, _instant(at))
            updated = (recent + [at])[-rate:]
            if doc is None:
                try:
                    self._limits.insert_one({"_id": key, "recent": updated, "version": 1})
                    return Reservation(_instant(at), _instant(at))
                except DuplicateKeyError:
                    continue   # another dialer created it first: read it again
            result = self._limits.update_one({"_id": key, "version": doc["version"]},
                                             {"$set": {"recent": updated}, "$inc": {"version": 1}})
            if result.modified_count == 1:
                return Reservation(_instant(at), _instant(at))
        # Heavy contention: behave as if full, and come back a little later.
        return Reservation(None, now + window)


@dataclass(frozen=True)
class Slot:
    scope: str
    index: int
    holder: str


class ConcurrencySlotRepository:
    """`limit` slot documents per scope (`<scope>#<n>`), each free or held by
    one call. Taking a free slot is one conditional update, so no more than
    `limit` calls of a scope ever hold one; lowering the limit only stops
    slots above it from being taken."""

    def __init__(self, db: Database):
        self._slots = db["concurrency_slots"]

    def held_by(self, scope: str, holder: str) -> Slot | None:
        doc = self._slots.find_one({"scope": scope, "holder": holder})
        return Slot(scope, doc["index"], holder) if doc else None

    def acquire(self, scope: str, *, limit: int, holder: str, now: datetime, expires_at: datetime) -> Slot | None:
        """A slot for `holder` (the one it already holds, if any), or None when all are taken."""
        if held := self.held_by(scope, holder):
            self._slots.update_one({"scope": scope, "holder": holder}, {"$set": {"expiresAt": expires_at}})
            return held
        for attempt in range(2):
            doc = self._slots.find_one_and_update(
                {"scope": scope, "busy": False, "index": {"$lt": limit}},
                {"$set": {"busy": True, "holder": holder, "acquiredAt": now, "expiresAt": expires_at}},
                sort=[("index", 1)], return_document=True)
            if doc is not None:
                return Slot(scope, doc["index"], holder)
            if attempt == 0 and not self._create_missing(scope, limit):
                return None   # every slot exists and is busy
        return None

    def _create_missing(self, scope: str, limit: int) -> bool:
        """Create this scope's free slots up to `limit`; False when none were missing."""
        existing = {d["index"] for d in self._slots.find({"scope": scope}, {"index": 1})}
        created = False
        for index in range(limit):
            if index in existing:
                continue
            try:
                self._slots.insert_one({"_id": f"{scope}#{index}", "scope": scope, "index": index,
                                        "busy": False, "holder": "", "expiresAt": EPOCH})
                created = True
            except DuplicateKeyError:
                created = True   # a concurrent dialer made it; it may be free
        return created

    def release(self, scope: str, holder: str) -> bool:
        return self._slots.update_one({"scope": scope, "holder": holder, "busy": True},
                                      {"$set": {"busy": False, "holder": "", "expiresAt": EPOCH}}
                                      ).modified_count == 1

    def expired(self, *, now: datetime, limit: int = 500) -> list[Slot]:
        return [Slot(d["scope"], d["index"], d["holder"])
                for d in self._slots.find({"busy": True, "expiresAt": {"$lt": now}}).limit(limit)]

    def in_use(self, scope: str) -> int:
        return self._slots.count_documents({"scope": scope, "busy": True})
