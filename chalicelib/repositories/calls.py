from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ..clock import EPOCH
from ..models.call import Call
from ..models.call_status import TERMINAL, CallStatus
from .base import Page, newest_first_page


@dataclass(frozen=True)
class CallFilter:
    direction: str | None = None
    status: str | None = None
    agent_id: str | None = None
    to: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    def to_query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        for field, value in (("direction", self.direction), ("status", self.status),
                             ("agentId", self.agent_id), ("to", self.to)):
            if value is not None:
                query[field] = value
        created: dict[str, datetime] = {}
        if self.created_from:
            created["$gte"] = self.created_from
        if self.created_to:
            created["$lt"] = self.created_to
        if created:
            query["createdAt"] = created
        return query


class CallRepository:
    def __init__(self, db: Database):
        self._calls = db["calls"]

    def insert(self, call: Call) -> bool:
        """Insert; False when a call with this id already exists."""
        try:
            self._calls.insert_one(call.to_mongo())
            return True
        except DuplicateKeyError:
            return False

    def get(self, call_id: str) -> Call | None:
        doc = self._calls.find_one({"_id": call_id})
        return Call.from_mongo(doc) if doc else None

    def find_by_provider_sid(self, provider_call_sid: str) -> Call | None:
        doc = self._calls.find_one({"providerCallSid": provider_call_sid})
        return Call.from_mongo(doc) if doc else None

    def list(self, filters: CallFilter, *, limit: int, cursor: str | None) -> Page[Call]:
        docs, next_cursor = newest_first_page(self._calls, filters.to_query(), limit=limit, cursor=cursor)
        return Page([Call.from_mongo(d) for d in docs], next_cursor)

    def claim_for_dial(self, call_id: str, *, now: datetime, lease_until: datetime) -> Call | None:
        """Atomically take the right to dial: only a call that is still
        `initiated`, has no provider call yet, and whose previous claim (if
        any) has expired. Exactly one of several concurrent claimers wins."""
        doc = self._calls.find_one_and_update(
            {
                "_id": call_id,
                "status": CallStatus.INITIATED.value,
                "providerCallSid": {"$exists": False},
                "dialLeaseUntil": {"$lt": now},
            },
            {
                "$set": {"dialLeaseUntil": lease_until, "dispatchPending": False, "updatedAt": now},
                "$min": {"dialClaimedAt": now},
                "$inc": {"dialAttempts": 1},
            },
            return_document=True,
        )
        return Call.from_mongo(doc) if doc else None

    def release_claim(self, call_id: str, *, now: datetime) -> None:
        self._calls.update_one(
            {"_id": call_id, "providerCallSid": {"$exists": False}},
            {"$set": {"dialLeaseUntil": EPOCH, "updatedAt": now}},
        )

    def record_dialed(self, call_id: str, *, provider: str, provider_call_sid: str,
                      now: datetime, conversation_id: str | None = None) -> Call | None:
        """Store the carrier's call id. None when this call already has one,
        or the id belongs to another call (the unique index refuses it)."""
        try:
            doc = self._calls.find_one_and_update(
                {"_id": call_id, "providerCallSid": {"$exists": False}},
                {"$set": {"provider": provider, "providerCallSid": provider_call_sid,
                          "initiatedAt": now, "dialLeaseUntil": now, "waitingForSlot": False, "updatedAt": now,
                          **({"conversationId": conversation_id} if conversation_id else {})}},
                return_document=True,
            )
        except DuplicateKeyError:
            return None
        return Call.from_mongo(doc) if doc else None

    def transition(self, call_id: str, *, to: CallStatus, allowed_from: Iterable[CallStatus],
                   fields: dict[str, Any], now: datetime) -> Call | None:
        """Move to `to` only if the stored status is still one it may be
        entered from: the state machine's guard, applied atomically."""
        if to in TERMINAL:
            fields = {**fields, "dispatchPending": False}
        doc = self._calls.find_one_and_update(
            {"_id": call_id, "status": {"$in": [s.value for s in allowed_from]}},
            {"$set": {**fields, "status": to.value, "updatedAt": now}},
            return_document=True,
        )
        return Call.from_mongo(doc) if doc else None

    def find_undialed(self, *, now: datetime, enqueued_before: datetime, limit: int) -> list[str]:
        """Calls that should have been dialed by now, longest-waiting first:
        no carrier call, no live claim, and not (re)enqueued recently."""
        query = {"status": CallStatus.INITIATED.value, "enqueuedAt": {"$lt": enqueued_before},
                 "dispatchPending": False, "providerCallSid": {"$exists": False}, "dialLeaseUntil": {"$lt": now}}
        return [d["_id"] for d in self._calls.find(query, {"_id": 1}).sort("enqueuedAt", 1).limit(limit)]

    def mark_enqueued(self, call_id: str, *, at: datetime, if_before: datetime | None = None) -> bool:
        """Record when the call was put on the dial queue. With `if_before`,
        only if it was not enqueued since then (one sweep re-sends it, not two)."""
        query: dict[str, Any] = {"_id": call_id}
        if if_before is not None:
            query["enqueuedAt"] = {"$lt": if_before}
        return self._calls.update_one(query, {"$set": {"enqueuedAt": at}}).modified_count == 1

    def set_fields_while(self, call_id: str, statuses: Iterable[CallStatus], fields: dict[str, Any], *,
                         now: datetime) -> Call | None:
        """Set data fields only while the call is in one of `statuses`, so a
        late annotation never touches a finished call."""
        doc = self._calls.find_one_and_update(
            {"_id": call_id, "status": {"$in": [s.value for s in statuses]}},
            {"$set": {**fields, "updatedAt": now}}, return_document=True)
        return Call.from_mongo(doc) if doc else None

    # -- dispatch: calls waiting for their time (scheduled, retries, deferred by calling hours)

    def claim_due_dispatch(self, *, horizon: datetime, now: datetime, call_id: str | None = None) -> Call | None:
        """Take the earliest call waiting to be dispatched by `horizon` (or the
        given one): clearing `dispatchPending` is the claim, so two overlapping
        scheduler runs never both send it."""
        query: dict[str, Any] = {"dispatchPending": True, "scheduledFor": {"$lte": horizon},
                                 "status": CallStatus.INITIATED.value}
        if call_id:
            query["_id"] = call_id
        doc = self._calls.find_one_and_update(
            query, {"$set": {"dispatchPending": False, "enqueuedAt": now, "updatedAt": now}},
            sort=[("scheduledFor", 1)], return_document=True)
        return Call.from_mongo(doc) if doc else None

    def due_dispatch_ids(self, *, horizon: datetime, limit: int = 200) -> list[str]:
        """Calls waiting to be dispatched by `horizon`, earliest first (each is
        then claimed on its own with claim_due_dispatch)."""
        cursor = self._calls.find({"dispatchPending": True, "scheduledFor": {"$lte": horizon},
                                   "status": CallStatus.INITIATED.value}, {"_id": 1})
        return [d["_id"] for d in cursor.sort("scheduledFor", 1).limit(limit)]

    def defer(self, call_id: str, *, until: datetime, now: datetime, undo_claim: bool = False,
              waiting_for_slot: bool | None = None, paced: bool = False) -> Call | None:
        """Put a not-yet-dialed call back to wait for `until`. With
        `undo_claim`, the dialer's claim is returned as if never taken (no
        carrier was asked, so there is nothing to reconcile later). `paced`:
        put back by pacing (counted, for backoff); `waiting_for_slot` True: a
        released concurrency slot may wake it earlier (None: as it was)."""
        update: dict[str, Any] = {"$set": {"scheduledFor": until, "dispatchPending": True, "enqueuedAt": until,
                                           "dialLeaseUntil": EPOCH, "updatedAt": now}}
        if waiting_for_slot is not None:
            update["$set"]["waitingForSlot"] = waiting_for_slot
        increments: dict[str, int] = {}
        if undo_claim:
            increments["dialAttempts"] = -1
        if paced:
            increments["pacingWaits"] = 1
            update["$min"] = {"waitingSince": now}
        if increments:
            update["$inc"] = increments
        doc = self._calls.find_one_and_update(
            {"_id": call_id, "status": CallStatus.INITIATED.value, "providerCallSid": {"$exists": False}},
            update, return_document=True)
        return Call.from_mongo(doc) if doc else None

    def set_metadata(self, call_id: str, values: dict[str, Any], *, now: datetime) -> None:
        self._calls.update_one({"_id": call_id},
                               {"$set": {**{f"metadata.{k}": v for k, v in values.items()}, "updatedAt": now}})


    # -- the conversation and what it leaves behind

    def find_by_conversation_id(self, conversation_id: str) -> Call | None:
        doc = self._calls.find_one({"conversationId": conversation_id})
        return Call.from_mongo(doc) if doc else None

    def link_conversation(self, call_id: str, conversation_id: str, *, now: datetime) -> bool:
        """Store the call's ElevenLabs conversation id, once; False when the
        call already has another one or the id belongs to another call."""
        try:
            result = self._calls.update_one({"_id": call_id, "conversationId": {"$exists": False}},
                                            {"$set": {"conversationId": conversation_id, "updatedAt": now}})
        except DuplicateKeyError:
            return False
        return result.modified_count == 1

    def annotate(self, call_id: str, fields: dict[str, Any], *, now: datetime, only_if_missing: str | None = None
                 ) -> Call | None:
        """Set data fields whatever the status (a transcript or recording
        arrives after the call ended). With `only_if_missing`, only while that
        field is unset."""
        query: dict[str, Any] = {"_id": call_id}
        if only_if_missing:
            query[only_if_missing] = {"$exists": False}
        doc = self._calls.find_one_and_update(query, {"$set": {**fields, "updatedAt": now}}, return_document=True)
        return Call.from_mongo(doc) if doc else None

    # -- pacing: calls waiting for a concurrency slot

    def wake_waiting(self, concurrency_key: str, *, now: datetime) -> str | None:
        """Make the longest-waiting call of this scope due now (whether it still
        waits for the scheduler or its delayed dial message is already on the
        queue: that message then finds it dialed or waiting again); its id."""
        doc = self._calls.find_one_and_update(
            {"concurrencyKey": concurrency_key, "waitingForSlot": True, "status": CallStatus.INITIATED.value,
             "providerCallSid": {"$exists": False}, "dialLeaseUntil": {"$lt": now}},
            {"$set": {"scheduledFor": now, "enqueuedAt": now, "dispatchPending": True, "waitingForSlot": False,
                      "updatedAt": now}},
            sort=[("waitingSince", 1)], projection={"_id": 1})
        return doc["_id"] if doc else None

    # -- batches

    def insert_many(self, calls: list[Call]) -> int:
        """Bulk insert; calls that already exist (a redelivered fan-out) are
        left as they are. Returns how many were new."""
        if not calls:
            return 0
        try:
            return len(self._calls.insert_many([c.to_mongo() for c in calls], ordered=False).inserted_ids)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise
            return exc.details.get("nInserted", 0)

    def batch_call_ids(self, batch_id: str, *, undialed_only: bool = False, first_attempts_only: bool = False,
                       limit: int = 0) -> list[str]:
        query: dict[str, Any] = {"batchId": batch_id}
        if undialed_only:
            query.update(status=CallStatus.INITIATED.value, providerCallSid={"$exists": False})
        if first_attempts_only:
            query["retryCount"] = 0
        return [d["_id"] for d in self._calls.find(query, {"_id": 1}).limit(limit)]

    def batch_call_ids_among(self, call_ids: list[str]) -> list[str]:
        """Those of `call_ids` that exist."""
        return [d["_id"] for d in self._calls.find({"_id": {"$in": call_ids}}, {"_id": 1})]

    def cancel_undialed(self, call_ids: list[str], *, now: datetime) -> list[str]:
        """Cancel those of `call_ids` that are not dialed yet; returns the ids
        this cancelled (a call the dialer takes meanwhile is hung up by it)."""
        guard = {"_id": {"$in": call_ids}, "status": CallStatus.INITIATED.value,
                 "providerCallSid": {"$exists": False}}
        self._calls.update_many(guard, {"$set": {
            "status": CallStatus.CANCELLED.value, "failureReason": "cancelled", "endedAt": now,
            "dispatchPending": False, "waitingForSlot": False, "updatedAt": now}})
        return [d["_id"] for d in self._calls.find(
            {"_id": {"$in": call_ids}, "status": CallStatus.CANCELLED.value, "endedAt": now}, {"_id": 1})]

    def count_unfinished(self, batch_id: str) -> int:
        return self._calls.count_documents({"batchId": batch_id,
                                            "status": {"$nin": [s.value for s in TERMINAL]}})
