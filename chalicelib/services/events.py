from __future__ import annotations

from typing import Any

from .. import clock
from ..ids import new_id
from ..models.call import CallEvent
from ..repositories.call_events import CallEventRepository


class EventLog:
    """Writes `call_events`: one per provider callback or internal transition."""

    def __init__(self, events: CallEventRepository):
        self._events = events

    def record(self, call_id: str, event_type: str, *, source: str = "internal",
               data: dict[str, Any] | None = None, **fields: Any) -> CallEvent:
        event = self.build(call_id, event_type, source=source, data=data, **fields)
        self._events.insert(event)
        return event

    def record_many(self, events: list[CallEvent]) -> None:
        if events:
            self._events.insert_many(events)

    @staticmethod
    def build(call_id: str, event_type: str, *, source: str = "internal", data: dict[str, Any] | None = None,
              **fields: Any) -> CallEvent:
        now = clock.now()
        fields.setdefault("timestamp", now)
        return CallEvent(id=new_id("evt"), created_at=now, call_id=call_id, event_type=event_type,
                         source=source, data=data or {}, **fields)
