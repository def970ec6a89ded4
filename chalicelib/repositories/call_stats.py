"""The aggregation queries behind every call statistic (GET /calls/stats,
campaign and batch stats, the daily roll-ups).

Written for what both MongoDB and the embedded server compute the same way:
`$group` on ONE string key (the embedded server ignores compound `_id`
documents, so dimensions are joined with `$concat`), `$ifNull` for absent
fields, and minutes grouped by `$dateToString` in UTC (time zones are applied
in Python, since the embedded server ignores aggregation time zones).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

from pymongo.database import Database

from .base import and_

SEP = "|"
# Order of the dimensions joined in the group key of `outcome_groups`.
OUTCOME_DIMENSIONS = ("status", "outboundStatus", "failureReason", "direction", "priceCurrency")
# Transcripts reference calls by our call id (seed 002's `callSid`, renamed like call_events).
TRANSCRIPT_CALL_FIELD = "callId"
IN_CHUNK = 1000


@dataclass(frozen=True)
class StatsFilter:
    """Which calls a statistic covers: creation time in [created_from, created_to)."""

    created_from: datetime | None = None
    created_to: datetime | None = None
    agent_id: str | None = None
    campaign_id: str | None = None
    batch_id: str | None = None
    direction: str | None = None

    def to_match(self, *extra: dict[str, Any]) -> dict[str, Any]:
        """The `$match` of the aggregations, always as `$and` of clauses: the
        embedded server's fast path finds nothing for a date range in an
        aggregation `$match` unless it is spelled that way
        (tests/conformance: test_aggregate_match_on_a_date_range)."""
        match: dict[str, Any] = {}
        for field, value in (("campaignId", self.campaign_id), ("batchId", self.batch_id),
                             ("agentId", self.agent_id), ("direction", self.direction)):
            if value is not None:
                match[field] = value
        created: dict[str, datetime] = {}
        if self.created_from is not None:
            created["$gte"] = self.created_from
        if self.created_to is not None:
            created["$lt"] = self.created_to
        if created:
            match["createdAt"] = created
        return {"$and": [{field: value} for field, value in match.items()] + list(extra) or [{}]}


@dataclass(frozen=True)
class OutcomeGroup:
    status: str
    outbound_status: str
    failure_reason: str
    direction: str
    price_currency: str
    campaign_id: str
    calls: int
    duration_total: int
    duration_count: int
    price_total: float
    day: str = ""          # 'YYYY-MM-DD' (UTC) when grouped by day


DAY = {"$dateToString": {"format": "%Y-%m-%d", "date": "$createdAt"}}
MINUTE = {"$dateToString": {"format": "%Y-%m-%dT%H:%M", "date": "$createdAt"}}


def _key(*parts: Any) -> dict[str, Any]:
    """One string group key: field names ('status') or expressions, joined by SEP."""
    joined: list[Any] = []
    for part in parts:
        if joined:
            joined.append(SEP)
        joined.append({"$ifNull": [f"${part}", ""]} if isinstance(part, str) else part)
    return {"$concat": joined}


class CallStatsRepository:
    """Each method is one pass over the calls `where` selects, however many
    days it covers (grouping by day is part of the key), because a pass costs
    the same for one day or many on the embedded server (it scans)."""

    def __init__(self, db: Database):
        self._db = db
        self._calls = db["calls"]

    def by_status(self, where: StatsFilter, *, retries_only: bool = False) -> dict[str, int]:
        """Seed 000's progress count: calls by status (only the retry calls,
        with `retries_only`), served by the {batchId}/{campaignId, status} indexes."""
        extra = ({"retryCount": {"$gt": 0}},) if retries_only else ()
        rows = self._calls.aggregate([{"$match": where.to_match(*extra)},
                                      {"$group": {"_id": "$status", "count": {"$sum": 1}}}])
        return {row["_id"]: row["count"] for row in rows}

    def outcome_groups(self, where: StatsFilter, *, by_day: bool = False) -> list[OutcomeGroup]:
        """Calls counted by status × line outcome × failure reason × direction
        × currency × campaign (× UTC day)."""
        dimensions = (*OUTCOME_DIMENSIONS, "campaignId")
        rows = self._calls.aggregate([
            {"$match": where.to_match()},
            {"$group": {
                "_id": _key(*dimensions, DAY) if by_day else _key(*dimensions),
                "calls": {"$sum": 1},
                "durationTotal": {"$sum": {"$ifNull": ["$duration", 0]}},
                "durationCount": {"$sum": {"$cond": [{"$ifNull": ["$duration", False]}, 1, 0]}},
                "priceTotal": {"$sum": {"$ifNull": ["$price", 0]}},
            }},
        ])
        groups = []
        for row in rows:
            parts = row["_id"].split(SEP)
            day = parts.pop() if by_day else ""
            status, outbound, failure, direction, currency, campaign_id = parts
            groups.append(OutcomeGroup(status, outbound, failure, direction, currency, campaign_id, row["calls"],
                                       int(row["durationTotal"] or 0), int(row["durationCount"] or 0),
                                       float(row["priceTotal"] or 0), day))
        return groups

    def retry_chains(self, where: StatsFilter, *, by_day: bool = False) -> dict[str, tuple[int, int]]:
        """(chains retried, chains a retry completed) among the retry calls in
        `where`, per UTC day ('' when not by day)."""
        rows = self._calls.aggregate([
            {"$match": where.to_match({"retryOf": {"$exists": True}})},
            {"$group": {"_id": _key(DAY, "retryOf") if by_day else _key("retryOf"),
                        "completed": {"$max": {"$cond": [{"$eq": ["$status", "completed"]}, 1, 0]}}}},
        ])
        result: dict[str, tuple[int, int]] = {}
        for row in rows:
            day = row["_id"].split(SEP)[0] if by_day else ""
            retried, succeeded = result.get(day, (0, 0))
            result[day] = (retried + 1, succeeded + (1 if row["completed"] else 0))
        return result

    def per_minute(self, where: StatsFilter) -> dict[str, int]:
        """Calls per UTC minute ('YYYY-MM-DDTHH:MM' → count)."""
        rows = self._calls.aggregate([
            {"$match": where.to_match()},
            {"$group": {"_id": _key(MINUTE), "calls": {"$sum": 1}}},
        ])
        return {row["_id"]: row["calls"] for row in rows}

    def call_ids_by_day(self, where: StatsFilter) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for doc in self._calls.find(where.to_match(), {"_id": 1, "createdAt": 1}):
            result.setdefault(doc["createdAt"].strftime("%Y-%m-%d"), []).append(doc["_id"])
        return result

    def call_days_updated_since(self, since: datetime) -> set[str]:
        """UTC days ('YYYY-MM-DD') of calls changed since `since`: the days a roll-up must redo."""
        rows = self._calls.aggregate([
            {"$match": {"$and": [{"updatedAt": {"$gte": since}}]}},     # see StatsFilter.to_match
            {"$group": {"_id": {"$dateToString": {"format": "%Y-%m-%d", "date": "$createdAt"}}}},
        ])
        return {row["_id"] for row in rows if row["_id"]}

    # -- collections other features own; absent collections read as empty

    def has_transcripts(self) -> bool:
        return self._db["transcripts"].find_one({}, {"_id": 1}) is not None

    def transcript_analyses(self, call_ids: list[str]) -> Iterator[dict[str, Any]]:
        """The `analysis` of each transcript of these calls (seed 002 shape)."""
        transcripts = self._db["transcripts"]
        for start in range(0, len(call_ids), IN_CHUNK):
            chunk = call_ids[start:start + IN_CHUNK]
            for doc in transcripts.find({TRANSCRIPT_CALL_FIELD: {"$in": chunk}}, {"analysis": 1}):
                if isinstance(doc.get("analysis"), dict):
                    yield doc["analysis"]

    def transcript_call_ids_since(self, since: datetime) -> list[str]:
        docs = self._db["transcripts"].find({"createdAt": {"$gte": since}}, {TRANSCRIPT_CALL_FIELD: 1})
        return [d[TRANSCRIPT_CALL_FIELD] for d in docs if d.get(TRANSCRIPT_CALL_FIELD)]

    def call_days(self, call_ids: list[str]) -> set[str]:
        days = set()
        for start in range(0, len(call_ids), IN_CHUNK):
            for doc in self._calls.find({"_id": {"$in": call_ids[start:start + IN_CHUNK]}}, {"createdAt": 1}):
                days.add(doc["createdAt"].strftime("%Y-%m-%d"))
        return days

    def campaign_names(self, campaign_ids: list[str]) -> dict[str, str]:
        names = {}
        for start in range(0, len(campaign_ids), IN_CHUNK):
            docs = self._db["campaigns"].find({"_id": {"$in": campaign_ids[start:start + IN_CHUNK]}}, {"name": 1})
            names.update({d["_id"]: d["name"] for d in docs if d.get("name")})
        return names

    def campaigns_completed_between(self, start: datetime, end: datetime) -> int:
        # and_(): the embedded server's $match drops a bare date range.
        return self._db["campaigns"].count_documents(and_({"status": "completed"},
                                                          {"endedAt": {"$gte": start, "$lt": end}}))
