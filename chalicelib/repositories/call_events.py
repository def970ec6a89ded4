from __future__ import annotations

from pymongo.database import Database

from ..models.call import CallEvent


class CallEventRepository:
    def __init__(self, db: Database):
        self._events = db["call_events"]

    def insert(self, event: CallEvent) -> None:
        self._events.insert_one(event.to_mongo())

    def insert_many(self, events: list[CallEvent]) -> None:
        self._events.insert_many([event.to_mongo() for event in events], ordered=False)

    def list_for_call(self, call_id: str, *, limit: int = 500) -> list[CallEvent]:
        docs = self._events.find({"callId": call_id}).sort([("timestamp", 1), ("_id", 1)]).limit(limit)
        return [CallEvent.from_mongo(d) for d in docs]
