"""Roll-ups: the daily, weekly and monthly analytics documents.

A day is a UTC day of call creation. Its document is computed from scratch
from the calls (and transcripts) of that day and upserted under a
deterministic id, so rolling a day again gives the same document. Weeks
(Monday to Sunday) and months are the sums of their days.

Late events: a callback that lands after midnight changes its call's
`updatedAt`, not its `createdAt`. Each scheduled run re-rolls today plus every
day that has a call changed (or a transcript added) since the previous run's
watermark, minus a margin for writes in flight, then moves the watermark to
the run's start. `scripts/rollup.py` rebuilds any range by hand.
"""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Iterable

from .. import clock
from ..models.analytics import AnalyticsDocument
from ..repositories.analytics import AnalyticsRepository
from ..repositories.call_stats import CallStatsRepository, StatsFilter
from .call_stats import add_counts, merge, rate, summarize

SLOT_MINUTES = 15          # every UTC offset in use is a multiple of 15 minutes (+05:30, +05:45, ...)
SLOTS_PER_DAY = 24 * 60 // SLOT_MINUTES
KEYWORDS_KEPT = 100
IN_FLIGHT_MARGIN = timedelta(minutes=5)
SENTIMENTS = ("positive", "neutral", "negative")


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def period_bounds(type_: str, first: date) -> tuple[date, date]:
    if type_ == "daily":
        return first, first + timedelta(days=1)
    if type_ == "weekly":
        return week_of(first), week_of(first) + timedelta(days=7)
    return month_of(first), next_month(month_of(first))


def quarter_hours(per_minute: dict[str, int], start: datetime) -> list[int]:
    """Calls per 15-minute UTC slot of the day starting at `start`."""
    slots = [0] * SLOTS_PER_DAY
    for minute, calls in per_minute.items():
        at = datetime.fromisoformat(minute).replace(tzinfo=timezone.utc)
        index = int((at - start).total_seconds() // (SLOT_MINUTES * 60))
        if 0 <= index < SLOTS_PER_DAY:
            slots[index] += calls
    return slots


def local_hours(slots: list[int], start: datetime, zone: tzinfo) -> list[int]:
    """Shift a day's UTC slots into local hours of `zone`, each slot with the
    offset in force at that instant (DST changes mid-day included)."""
    hours = [0] * 24
    for index, calls in enumerate(slots):
        if calls:
            hours[(start + timedelta(minutes=SLOT_MINUTES * index)).astimezone(zone).hour] += calls
    return hours


def conversation_analysis(analyses: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Sentiment distribution, keyword counts and criteria success (seed 002 shape)."""
    transcripts = 0
    sentiment: Counter[str] = Counter({s: 0 for s in SENTIMENTS})
    keywords: Counter[str] = Counter()
    checks: dict[str, dict[str, int]] = {}
    for analysis in analyses:
        transcripts += 1
        overall = analysis.get("sentiment")
        if isinstance(overall, dict):
            overall = overall.get("overall")
        if isinstance(overall, str) and overall.lower() in SENTIMENTS:
            sentiment[overall.lower()] += 1
        keywords.update(k.strip().lower() for k in analysis.get("keywords") or [] if isinstance(k, str) and k.strip())
        for check in analysis.get("criteriaChecks") or []:
            if isinstance(check, dict) and isinstance(check.get("name"), str):
                counts = checks.setdefault(check["name"], {"passed": 0, "total": 0})
                counts["total"] += 1
                counts["passed"] += 1 if check.get("passed") is True else 0
    return finish_conversation({"transcripts": transcripts, "sentiment": dict(sentiment), "keywords": keywords,
                                "checks": checks})


def finish_conversation(raw: dict[str, Any]) -> dict[str, Any]:
    checks = raw["checks"]
    passed = sum(c["passed"] for c in checks.values())
    total = sum(c["total"] for c in checks.values())
    return {
        "transcripts": raw["transcripts"],
        "sentiment": raw["sentiment"],
        "topKeywords": [{"keyword": k, "count": n}
                        for k, n in sorted(raw["keywords"].items(), key=lambda kv: (-kv[1], kv[0]))[:KEYWORDS_KEPT]],
        "criteriaSuccess": {
            "overall": rate(passed, total), "passed": passed, "total": total,
            "byCheck": [{"name": name, **c, "successRate": rate(c["passed"], c["total"])}
                        for name, c in sorted(checks.items())],
        },
    }


def merge_conversation(many: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum of days. Keywords beyond each day's top KEYWORDS_KEPT are not kept,
    so a week's or month's keyword counts are exact only for those."""
    raw: dict[str, Any] = {"transcripts": 0, "sentiment": {s: 0 for s in SENTIMENTS}, "keywords": Counter(),
                           "checks": {}}
    for c in many:
        raw["transcripts"] += c["transcripts"]
        add_counts(raw["sentiment"], c["sentiment"])
        raw["keywords"].update({k["keyword"]: k["count"] for k in c["topKeywords"]})
        for check in c["criteriaSuccess"]["byCheck"]:
            add_counts(raw["checks"].setdefault(check["name"], {"passed": 0, "total": 0}),
                       {"passed": check["passed"], "total": check["total"]})
    return finish_conversation(raw)


def campaign_metrics(per_campaign: dict[str, dict[str, int]], names: dict[str, str],
                     completed_campaigns: int) -> dict[str, Any]:
    by_id = []
    for campaign_id, by_status in sorted(per_campaign.items()):
        calls, completed = sum(by_status.values()), by_status.get("completed", 0)
        by_id.append({"campaignId": campaign_id, "name": names.get(campaign_id), "calls": calls,
                      "completed": completed, "successRate": rate(completed, calls)})
    return {"active": len(by_id), "completed": completed_campaigns, "byId": by_id}


def merge_campaigns(many: list[dict[str, Any]]) -> dict[str, Any]:
    per_campaign: dict[str, dict[str, int]] = {}
    names: dict[str, str] = {}
    for c in many:
        for entry in c["byId"]:
            counts = per_campaign.setdefault(entry["campaignId"], {"completed": 0, "other": 0})
            counts["completed"] += entry["completed"]
            counts["other"] += entry["calls"] - entry["completed"]
            if entry.get("name"):
                names[entry["campaignId"]] = entry["name"]
    return campaign_metrics(per_campaign, names, sum(c["completed"] for c in many))


def contiguous_runs(days: list[date]) -> list[tuple[date, date]]:
    """[first, last] ranges of consecutive days, from sorted distinct days."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


class RollupService:
    def __init__(self, stats: CallStatsRepository, analytics: AnalyticsRepository, *,
                 retention_days: int | None = None):
        self._stats = stats
        self._analytics = analytics
        # Days whose calls may already be archived are never rolled again: their
        # documents were made while the calls were here, and are kept forever.
        self._retention = timedelta(days=retention_days) if retention_days else None

    def oldest_rollable(self) -> date | None:
        return (clock.now() - self._retention).date() if self._retention else None

    # -- days

    def roll_range(self, first: date, last: date) -> list[AnalyticsDocument]:
        """The daily documents of [first, last], from a fixed number of passes
        over the calls of the range (each groups by day)."""
        start, end = day_start(first), day_start(last + timedelta(days=1))
        where = StatsFilter(created_from=start, created_to=end)
        groups: dict[str, list] = {}
        for group in self._stats.outcome_groups(where, by_day=True):
            groups.setdefault(group.day, []).append(group)
        retries = self._stats.retry_chains(where, by_day=True)
        minutes: dict[str, dict[str, int]] = {}
        for minute, calls in self._stats.per_minute(where).items():
            minutes.setdefault(minute[:10], {})[minute] = calls
        call_ids = self._stats.call_ids_by_day(where) if self._stats.has_transcripts() else {}
        campaign_ids = sorted({g.campaign_id for gs in groups.values() for g in gs if g.campaign_id})
        names = self._stats.campaign_names(campaign_ids) if campaign_ids else {}
        docs = []
        for n in range((last - first).days + 1):
            day = first + timedelta(days=n)
            key, day_begin = day.isoformat(), day_start(day)
            day_groups = groups.get(key, [])
            stats = summarize(day_groups, *retries.get(key, (0, 0)))
            slots = quarter_hours(minutes.get(key, {}), day_begin)
            stats["callVolume"]["byQuarterHour"] = slots
            stats["callVolume"]["byHour"] = local_hours(slots, day_begin, timezone.utc)
            per_campaign: dict[str, dict[str, int]] = {}
            for g in day_groups:
                if g.campaign_id:
                    by_status = per_campaign.setdefault(g.campaign_id, {})
                    by_status[g.status] = by_status.get(g.status, 0) + g.calls
            campaigns = campaign_metrics(per_campaign, names, self._stats.campaigns_completed_between(
                day_begin, day_begin + timedelta(days=1)))
            conversation = conversation_analysis(self._stats.transcript_analyses(call_ids.get(key, [])))
            docs.append(self._save("daily", day_begin, day_begin + timedelta(days=1), stats, campaigns, conversation))
        return docs

    def roll_day(self, day: date) -> AnalyticsDocument:
        return self.roll_range(day, day)[0]

    # -- weeks and months, from their days

    def roll_period(self, type_: str, first: date) -> AnalyticsDocument:
        first, after = period_bounds(type_, first)
        start, end = day_start(first), day_start(after)
        days = self._analytics.between("daily", start, end)
        stats = merge([{"callVolume": d.call_volume, "duration": d.duration, "outcomes": d.outcomes,
                        "retries": d.retries, "cost": d.cost} for d in days])
        stats["callVolume"]["byHour"] = [sum(hours) for hours in zip(*(d.call_volume["byHour"] for d in days))] \
            if days else [0] * 24
        return self._save(type_, start, end, stats, merge_campaigns([d.campaigns for d in days]),
                          merge_conversation([d.conversation_analysis for d in days]))

    def rebuild(self, first: date, last: date) -> list[date]:
        """Roll every day in [first, last] (but days past retention), then the
        weeks and months they touch. Returns the days rolled."""
        oldest = self.oldest_rollable()
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        days = [d for d in days if oldest is None or d >= oldest]
        self.roll_days(days)
        return days

    def roll_days(self, days: Iterable[date]) -> None:
        oldest = self.oldest_rollable()
        days = sorted(d for d in set(days) if oldest is None or d >= oldest)
        for first, last in contiguous_runs(days):
            self.roll_range(first, last)
        for week in sorted({week_of(d) for d in days}):
            self.roll_period("weekly", week)
        for month in sorted({month_of(d) for d in days}):
            self.roll_period("monthly", month)

    def run_scheduled(self) -> dict[str, Any]:
        """The scheduled roll-up: today, and every day touched since the last run."""
        started = clock.now()
        state = self._analytics.state()
        since = (state.watermark if state else started - timedelta(days=1)) - IN_FLIGHT_MARGIN
        touched = self._stats.call_days_updated_since(since)
        touched |= self._stats.call_days(self._stats.transcript_call_ids_since(since))
        days = {started.date()} | {date.fromisoformat(d) for d in touched}
        days = {d for d in days if d <= started.date() and (self.oldest_rollable() is None
                                                            or d >= self.oldest_rollable())}
        self.roll_days(days)
        self._analytics.save_state(started, clock.now())
        return {"days": sorted(d.isoformat() for d in days)}

    def _save(self, type_: str, start: datetime, end: datetime, stats: dict[str, Any],
              campaigns: dict[str, Any], conversation: dict[str, Any]) -> AnalyticsDocument:
        now = clock.now()
        doc = AnalyticsDocument(
            id=f"{type_}:{start.date().isoformat()}", type=type_, date=start, period_end=end,
            created_at=now, updated_at=now, call_volume=stats["callVolume"], duration=stats["duration"],
            outcomes=stats["outcomes"], retries=stats["retries"], cost=stats["cost"], campaigns=campaigns,
            conversation_analysis=conversation)
        self._analytics.upsert(doc)
        return doc


class AnalyticsService:
    """Reads the analytics documents, with calls by hour in the caller's zone."""

    def __init__(self, analytics: AnalyticsRepository):
        self._analytics = analytics

    def list(self, type_: str, start: datetime, end: datetime, zone: tzinfo) -> list[dict[str, Any]]:
        docs = self._analytics.between(type_, start, end)
        if not docs:
            return []
        days = docs if type_ == "daily" else self._analytics.between("daily", docs[0].date, docs[-1].period_end)
        result = []
        for doc in docs:
            body = doc.to_api()
            hours = [0] * 24
            for day in days:
                if doc.date <= day.date < doc.period_end and "byQuarterHour" in day.call_volume:
                    hours = [a + b for a, b in zip(hours, local_hours(day.call_volume["byQuarterHour"], day.date,
                                                                       zone))]
            body["callVolume"]["byHour"] = hours
            body["timezone"] = str(zone)
            result.append(body)
        return result
