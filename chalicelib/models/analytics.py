"""Pre-aggregated analytics documents (seed 002 Analytics): one per UTC day,
ISO week (from Monday) and calendar month. Counts add up from days to weeks
and months; averages and rates are derived from them."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Document, UtcDatetime

PeriodType = Literal["daily", "weekly", "monthly"]


class AnalyticsDocument(Document):
    """`_id` is `<type>:<YYYY-MM-DD of the period's first day>`, so re-rolling a
    period replaces its document instead of adding one."""

    type: PeriodType
    date: UtcDatetime                     # the period's first instant (UTC)
    period_end: UtcDatetime               # exclusive
    call_volume: dict[str, Any]           # total, byStatus, byOutcome, byFailureReason, byDirection,
                                          # byHour (24, UTC), byQuarterHour (96, UTC; daily only)
    duration: dict[str, Any]              # total, count, average, byStatus {status: {total, count, average}}
    outcomes: dict[str, Any]              # calls, dialed, answered, voicemail, completed, answerRate, voicemailRate
    retries: dict[str, Any]               # chains, succeeded, successRate
    cost: dict[str, float] = Field(default_factory=dict)
    campaigns: dict[str, Any]             # active, completed, byId [{campaignId, name, calls, completed, successRate}]
    conversation_analysis: dict[str, Any]  # transcripts, sentiment, topKeywords, criteriaSuccess


class RollupState(Document):
    """Where the scheduled roll-up left off: calls changed after `watermark`
    mark the days it must roll again."""

    watermark: UtcDatetime
