"""What a call leaves behind: the conversation's transcript with its analysis,
and recordings (seed 002 Transcripts and Recordings)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import CamelModel, Document, UtcDatetime


class Turn(CamelModel):
    """One turn of the conversation. Times are seconds from the call's start."""

    speaker: Literal["agent", "user"]
    text: str
    start_time: float | None = None
    end_time: float | None = None
    confidence: float | None = None     # ElevenLabs gives none; kept for other transcribers


class CriteriaCheck(CamelModel):
    """An evaluation criterion of the agent (ElevenLabs evaluation_criteria_results)."""

    name: str
    passed: bool | None = None          # None (omitted): the evaluator could not tell ("unknown")
    confidence: float | None = None
    details: str | None = None          # the evaluator's rationale


class Sentiment(CamelModel):
    overall: str
    score: float | None = None


class Analysis(CamelModel):
    summary: str | None = None
    call_successful: str | None = None              # success | failure | unknown
    criteria_checks: list[CriteriaCheck] = Field(default_factory=list)
    data_collection: dict[str, Any] = Field(default_factory=dict)   # id -> {value, rationale}
    sentiment: Sentiment | None = None


class Transcript(Document):
    call_id: str
    conversation_id: str                 # unique: a duplicated delivery changes nothing
    provider_call_sid: str | None = None
    agent_id: str | None = None          # ours
    elevenlabs_agent_id: str | None = None
    recording_sid: str | None = None
    turns: list[Turn] = Field(default_factory=list)
    analysis: Analysis = Analysis()
    duration: int | None = None          # seconds (call_duration_secs)
    termination_reason: str | None = None
    occurred_at: UtcDatetime | None = None   # the provider's event_timestamp


class Recording(Document):
    call_id: str
    recording_sid: str                   # unique: Twilio RecordingSid, Exotel CallSid, ElevenLabs conversation id
    source: Literal["twilio", "simulated", "exotel", "elevenlabs"]
    status: str                          # completed, absent, failed, ...
    url: str | None = None               # where the carrier keeps it, or s3://bucket/key
    bucket: str | None = None            # when we keep it ourselves
    key: str | None = None
    duration: int | None = None          # seconds
    format: str | None = None            # mp3, wav
    size: int | None = None              # bytes
    channels: int | None = None
    conversation_id: str | None = None
    provider_call_sid: str | None = None
