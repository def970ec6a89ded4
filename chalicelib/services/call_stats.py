"""Call statistics for any slice of calls: one place that says what "answered",
"voicemail" and "retry success" mean, used by GET /calls/stats, campaign and
batch stats, and the daily roll-ups.

Definitions (over the calls created in the slice):
- dialed: the call reached the line (a carrier took it: any outcome but
  `queued`, or a status past `initiated`), excluding calls never placed
  (do-not-call, configuration errors, cancelled before dialing);
- answered: a person answered (`in-progress` or `completed`; a machine answer
  ends `failed`/`voicemail`, see docs/architecture.md);
- voicemail: answered by a machine;
- answerRate = answered / dialed, voicemailRate = voicemail / dialed;
- retries.successRate = call chains with a completed retry / chains retried
  (counted over the retry calls in the slice: "a failed call later completed
  by a retry").
Rates are null when their denominator is 0.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone, tzinfo
from typing import Any

from ..repositories.call_stats import CallStatsRepository, OutcomeGroup, StatsFilter

ANSWERED_STATUSES = frozenset({"in-progress", "completed"})
NEVER_PLACED = frozenset({"do_not_call", "configuration_error"})
LINE_OUTCOMES = frozenset({"ringing", "connected", "no_answer", "busy", "voicemail"})


def is_dialed(group: OutcomeGroup) -> bool:
    if group.failure_reason in NEVER_PLACED:
        return False
    if group.status == "cancelled":
        return group.outbound_status in LINE_OUTCOMES
    return group.status != "initiated" or group.outbound_status in LINE_OUTCOMES


def is_voicemail(group: OutcomeGroup) -> bool:
    return group.outbound_status == "voicemail" or group.failure_reason == "voicemail"


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summarize(groups: list[OutcomeGroup], retried: int = 0, retry_succeeded: int = 0) -> dict[str, Any]:
    """The statistics of one slice, from its outcome groups: counts (which add
    up across slices, see `merge`) plus the averages and rates `finish` derives."""
    by_status: Counter[str] = Counter()
    by_outcome: Counter[str] = Counter()
    by_failure: Counter[str] = Counter()
    by_direction: Counter[str] = Counter()
    duration_by_status: dict[str, dict[str, int]] = {}
    cost: Counter[str] = Counter()
    total = dialed = answered = voicemail = duration_total = duration_count = 0
    for g in groups:
        total += g.calls
        by_status[g.status] += g.calls
        by_direction[g.direction or "outbound"] += g.calls
        if g.outbound_status:
            by_outcome[g.outbound_status] += g.calls
        if g.failure_reason:
            by_failure[g.failure_reason] += g.calls
        dialed += g.calls if is_dialed(g) else 0
        answered += g.calls if g.status in ANSWERED_STATUSES else 0
        voicemail += g.calls if is_voicemail(g) else 0
        duration_total += g.duration_total
        duration_count += g.duration_count
        per_status = duration_by_status.setdefault(g.status, {"total": 0, "count": 0})
        per_status["total"] += g.duration_total
        per_status["count"] += g.duration_count
        if g.price_currency and g.price_total:
            cost[g.price_currency] += g.price_total
    return finish({
        "callVolume": {"total": total, "byStatus": dict(by_status), "byOutcome": dict(by_outcome),
                       "byFailureReason": dict(by_failure), "byDirection": dict(by_direction)},
        "duration": {"total": duration_total, "count": duration_count, "byStatus": duration_by_status},
        "outcomes": {"calls": total, "dialed": dialed, "answered": answered, "voicemail": voicemail,
                     "completed": by_status.get("completed", 0)},
        "retries": {"chains": retried, "succeeded": retry_succeeded},
        # Known only for calls the carrier priced; one total per currency.
        "cost": dict(cost),
    })


# Values derived from the counts: recomputed, never added up.
DERIVED = frozenset({"average", "answerRate", "voicemailRate", "successRate"})


def finish(stats: dict[str, Any]) -> dict[str, Any]:
    """Add the averages and rates to a statistics document made of counts."""
    duration = stats["duration"]
    duration["average"] = average(duration["total"], duration["count"])
    for values in duration["byStatus"].values():
        values["average"] = average(values["total"], values["count"])
    outcomes = stats["outcomes"]
    outcomes["answerRate"] = rate(outcomes["answered"], outcomes["dialed"])
    outcomes["voicemailRate"] = rate(outcomes["voicemail"], outcomes["dialed"])
    stats["retries"]["successRate"] = rate(stats["retries"]["succeeded"], stats["retries"]["chains"])
    stats["cost"] = {currency: round(amount, 4) for currency, amount in sorted(stats["cost"].items())}
    return stats


def merge(many: list[dict[str, Any]]) -> dict[str, Any]:
    """Statistics of the union of disjoint slices (days into weeks and months).
    A retry chain whose retries span several days counts once per day."""
    total: dict[str, Any] = {"callVolume": {"total": 0, "byStatus": {}, "byOutcome": {}, "byFailureReason": {},
                                            "byDirection": {}},
                             "duration": {"total": 0, "count": 0, "byStatus": {}},
                             "outcomes": {"calls": 0, "dialed": 0, "answered": 0, "voicemail": 0, "completed": 0},
                             "retries": {"chains": 0, "succeeded": 0}, "cost": {}}
    for stats in many:
        add_counts(total, {key: stats[key] for key in total})
    return finish(total)


def add_counts(into: dict[str, Any], other: dict[str, Any]) -> None:
    """into += other, for nested dicts of numbers (derived values skipped)."""
    for key, value in other.items():
        if key in DERIVED:
            continue
        if isinstance(value, dict):
            add_counts(into.setdefault(key, {}), value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            into[key] = into.get(key, 0) + value


def average(total: float, count: int) -> float | None:
    return round(total / count, 2) if count else None


class CallStatsService:
    def __init__(self, stats: CallStatsRepository):
        self._stats = stats

    def compute(self, where: StatsFilter, *, hours_in: tzinfo | None = None) -> dict[str, Any]:
        """Statistics of the calls `where` selects (any of: created range, agent,
        campaign, batch, direction); with `hours_in`, also calls by hour of day
        in that zone (callVolume.byHour)."""
        retried, succeeded = self._stats.retry_chains(where).get("", (0, 0))
        stats = summarize(self._stats.outcome_groups(where), retried, succeeded)
        if hours_in is not None:
            stats["callVolume"]["byHour"] = hours_of_minutes(self._stats.per_minute(where), hours_in)
        return stats


def hours_of_minutes(per_minute: dict[str, int], zone: tzinfo) -> list[int]:
    """Calls per local hour of `zone` from calls per UTC minute (exact for any offset, DST included)."""
    hours = [0] * 24
    for minute, calls in per_minute.items():
        hours[datetime.fromisoformat(minute).replace(tzinfo=timezone.utc).astimezone(zone).hour] += calls
    return hours
