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
    calls: int
    duration_total: int
    duration_count: int
    price_total: float


def _key(*fields: str) -> dict[str, Any]:
    parts: list[Any] = []
    for field in fields:
        if parts:
            parts.append(SEP)
        parts.append({"$ifNull": [f"${field}", ""]})
    return {"$concat": parts}


class CallStatsRepository:
    def __init__(self, db: Database):
        self._db = db
        self._calls = db["calls"]

    def outcome_groups(self, where: StatsFilter) -> list[OutcomeGroup]:
        """Calls counted by status × line outcome × failure reason × direction × currency."""
        rows = self._calls.aggregate([
            {"$match": where.to_match()},
            {"$group": {
                "_id": _key(*OUTCOME_DIMENSIONS),
                "calls": {"$sum": 1},
                "durationTotal": {"$sum": {"$ifNull": ["$duration", 0]}},
                "durationCount": {"$sum": {"$cond": [{"$ifNull": ["$duration", False]}, 1, 0]}},
                "priceTotal": {"$sum": {"$ifNull": ["$price", 0]}},
            }},
        ])
        groups = []
        for row in rows:
            status, outbound, failure, direction, currency = row["_id"].split(SEP)
            groups.append(OutcomeGroup(status, outbound, failure, direction, currency, row["calls"],
                                       int(row["durationTotal"] or 0), int(row["durationCount"] or 0),
                                       float(row["priceTotal"] or 0)))
        return groups

    def retry_chains(self, where: StatsFilter) -> tuple[int, int]:
        """(chains retried, chains a retry completed) among the retry calls in `where`."""
        rows = self._calls.aggregate([
            {"$match": where.to_match({"retryOf": {"$exists": True}})},
            {"$group": {"_id": "$retryOf",
                        "completed": {"$max": {"$cond": [{"$eq": ["$status", "completed"]}, 1, 0]}}}},
        ])
        retried = succeeded = 0
        for row in rows:
            retried += 1
            succeeded += 1 if row["completed"] else 0
        return retried, succeeded

    def per_minute(self, where: StatsFilter) -> dict[str, int]:
        """Calls per UTC minute ('YYYY-MM-DDTHH:MM' → count)."""
        rows = self._calls.aggregate([
            {"$match": where.to_match()},
            {"$group": {"_id": {"$dateToString": {"format": "%Y-%m-%dT%H:%M", "date": "$createdAt"}},
                        "calls": {"$sum": 1}}},
        ])
        return {row["_id"]: row["calls"] for row in rows}

    def per_campaign(self, where: StatsFilter) -> dict[str, dict[str, int]]:
        """campaignId → {status: calls} for the campaign calls in `where`."""
        rows = self._calls.aggregate([
            {"$match": where.to_match({"campaignId": {"$exists": True}})},
            {"$group": {"_id": _key("campaignId", "status"), "calls": {"$sum": 1}}},
        ])
        result: dict[str, dict[str, int]] = {}
        for row in rows:
            campaign_id, status = row["_id"].split(SEP)
            result.setdefault(campaign_id, {})[status] = row["calls"]
        return result

    def call_ids(self, where: StatsFilter) -> Iterator[str]:
        for doc in self._calls.find(where.to_match(), {"_id": 1}):
            yield doc["_id"]

    def call_days_updated_since(self, since: datetime) -> set[str]:
        """UTC days ('YYYY-MM-DD') of calls changed since `since`: the days a roll-up must redo."""
        rows = self._calls.aggregate([
            {"$match": {"$and": [{"updatedAt": {"$gte": since}}]}},     # see StatsFilter.to_match
            {"$group": {"_id": {"$dateToString": {"format": "%Y-%m-%d", "date": "$createdAt"}}}},
        ])
        return {row["_id"] for row in rows if row["_id"]}

    # -- collections other features own; absent collections read as empty

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
        return self._db["campaigns"].count_documents({"completedAt": {"$gte": start, "$lt": end}})
