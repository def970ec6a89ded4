"""What the conversation leaves behind: ElevenLabs post-call webhooks
(transcript with analysis, audio, initiation failures) and carriers'
recordings. Every delivery may come twice and in any order relative to the
carrier's status callbacks; each one is keyed (conversation id, recording SID)
so a repeat changes nothing."""
from __future__ import annotations

import base64
import binascii
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from .. import clock
from ..errors import NotFound, ValidationFailed
from ..ids import new_id
from ..models.call import Call, CallOutcome, TranscriptLine
from ..models.call_status import TERMINAL, CallStatus, FailureReason, OutboundStatus, predecessors
from ..models.conversation import Analysis, CriteriaCheck, Recording, Sentiment, Transcript, Turn
from ..providers.elevenlabs import CALL_ID_VARIABLE
from ..providers.twilio import RecordingUpdate
from ..repositories.calls import CallRepository
from ..repositories.conversations import RecordingRepository, TranscriptRepository
from ..storage import RecordingStore
from .events import EventLog

log = logging.getLogger(__name__)

# The call document keeps a short transcript (seed 000); the full one is in `transcripts`.
SHORT_TRANSCRIPT_TURNS = 50
SHORT_TEXT = 1000
# ElevenLabs call_initiation_failure failure_reason -> ours
INITIATION_FAILURES = {
    "busy": (OutboundStatus.BUSY, FailureReason.BUSY),
    "no-answer": (OutboundStatus.NO_ANSWER, FailureReason.NO_ANSWER),
}


class ConversationService:
    def __init__(self, *, calls: CallRepository, event_log: EventLog, transcripts: TranscriptRepository,
                 recordings: RecordingRepository, store: Callable[[], RecordingStore],
                 on_call_ended: Callable[[Call], None] = lambda call: None):
        self._calls = calls
        self._event_log = event_log
        self._transcripts = transcripts
        self._recordings = recordings
        self._store = store
        self._on_call_ended = on_call_ended

    # ---------------------------------------------------------------- ElevenLabs

    def apply_elevenlabs_webhook(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        kind = payload.get("type")
        data = payload.get("data")
        if not isinstance(kind, str) or not isinstance(data, dict):
            raise ValidationFailed("not an ElevenLabs webhook: needs type and data", field="type")
        call = self._find_call(data)
        if call is None:
            # Not one of ours (a test call from the ElevenLabs dashboard, an
            # inbound call): acknowledged, so ElevenLabs does not disable the webhook.
            log.info("ElevenLabs %s for an unknown conversation %s", kind, data.get("conversation_id"))
            return {"status": "ignored", "reason": "no call for this conversation"}
        conversation_id = data.get("conversation_id")
        if conversation_id:
            self._calls.link_conversation(call.id, conversation_id, now=clock.now())
        occurred_at = _unix(payload.get("event_timestamp"))
        match kind:
            case "post_call_transcription":
                return self._transcription(call, data, occurred_at)
            case "post_call_audio":
                return self._audio(call, data)
            case "call_initiation_failure":
                return self._initiation_failure(call, data, occurred_at)
        self._event_log.record(call.id, kind, source="elevenlabs", applied=False, reason="unknown webhook type",
                               data={"conversationId": conversation_id})
        return {"callId": call.id, "status": "ignored"}

    def _find_call(self, data: Mapping[str, Any]) -> Call | None:
        conversation_id = data.get("conversation_id")
        if conversation_id and (call := self._calls.find_by_conversation_id(conversation_id)):
            return call
        metadata = data.get("metadata") or {}
        call_sid = (metadata.get("phone_call") or {}).get("call_sid") or (metadata.get("body") or {}).get("CallSid")
        if call_sid and (call := self._calls.find_by_provider_sid(call_sid)):
            return call
        variables = (data.get("conversation_initiation_client_data") or {}).get("dynamic_variables") or {}
        call_id = variables.get(CALL_ID_VARIABLE)
        return self._calls.get(call_id) if isinstance(call_id, str) else None

    def _transcription(self, call: Call, data: Mapping[str, Any], occurred_at: datetime | None) -> dict[str, Any]:
        now = clock.now()
        metadata = data.get("metadata") or {}
        transcript = Transcript(
            id=new_id("trn"), created_at=now, updated_at=now, call_id=call.id,
            conversation_id=data["conversation_id"], provider_call_sid=call.provider_call_sid,
            agent_id=call.agent_id, elevenlabs_agent_id=data.get("agent_id"),
            turns=_turns(data.get("transcript") or [], metadata.get("call_duration_secs")),
            analysis=_analysis(data.get("analysis") or {}), duration=_int(metadata.get("call_duration_secs")),
            termination_reason=metadata.get("termination_reason") or None, occurred_at=occurred_at)
        recording = self._recordings.get(transcript.conversation_id)
        if recording is not None:
            transcript = transcript.model_copy(update={"recording_sid": recording.recording_sid})
        first = self._transcripts.insert(transcript)
        started = _unix(metadata.get("start_time_unix_secs"))
        fields = {
            "transcript": [line.model_dump(mode="python", by_alias=True, exclude_none=True)
                           for line in _short_transcript(transcript.turns, started)],
            "outcome": CallOutcome(status=transcript.analysis.call_successful or "unknown",
                                   reason=transcript.termination_reason,
                                   notes=_clip(transcript.analysis.summary)).model_dump(by_alias=True,
                                                                                        exclude_none=True),
        }
        if first or call.outcome is None:   # a repeat only completes what a crashed first delivery left
            self._calls.annotate(call.id, fields, now=now)
        if first:
            self._record_conversation_events(call, transcript)
        if call.provider == "elevenlabs":
            # ElevenLabs placed the call: its report is the only word on how it ended.
            self._finish(call, CallStatus.COMPLETED, "post_call_transcription", occurred_at, {
                "outboundStatus": OutboundStatus.CONNECTED.value, "startedAt": started,
                "endedAt": started + timedelta(seconds=transcript.duration) if started and transcript.duration
                else None, "duration": transcript.duration})
        return {"callId": call.id, "status": "stored" if first else "duplicate"}

    def _record_conversation_events(self, call: Call, transcript: Transcript) -> None:
        summary = EventLog.build(call.id, "post_call_transcription", source="elevenlabs",
                                 provider_call_sid=call.provider_call_sid, occurred_at=transcript.occurred_at, data={
                                     "conversationId": transcript.conversation_id, "transcriptId": transcript.id,
                                     "turns": len(transcript.turns),
                                     "callSuccessful": transcript.analysis.call_successful},
                                 conversation_data={"sentiment": transcript.analysis.sentiment.overall
                                                    if transcript.analysis.sentiment else None,
                                                    "duration": transcript.duration})
        turns = [EventLog.build(call.id, "conversation_turn", source="elevenlabs",
                                provider_call_sid=call.provider_call_sid,
                                data={"conversationId": transcript.conversation_id, "turn": n},
                                conversation_data={"speakerId": turn.speaker, "text": turn.text,
                                                   "startTime": turn.start_time,
                                                   "duration": _span(turn)})
                 for n, turn in enumerate(transcript.turns)]
        self._event_log.record_many([summary, *turns])

    def _audio(self, call: Call, data: Mapping[str, Any]) -> dict[str, Any]:
        conversation_id = data.get("conversation_id")
        try:
            audio = base64.b64decode(data.get("full_audio") or "", validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed("full_audio is not base64", field="data.full_audio") from None
        if not conversation_id or not audio:
            raise ValidationFailed("post_call_audio needs conversation_id and full_audio", field="data")
        if (existing := self._recordings.get(conversation_id)) and existing.status == "completed":
            return {"callId": call.id, "status": "duplicate"}
        store = self._store()
        key = f"recordings/{call.id}/{conversation_id}.mp3"
        store.put(key, audio, content_type="audio/mpeg")   # before the record: never a record without its audio
        now = clock.now()
        recording = self._recordings.upsert(Recording(
            id=new_id("rec"), created_at=now, updated_at=now, call_id=call.id, recording_sid=conversation_id,
            source="elevenlabs", status="completed", url=f"s3://{store.bucket}/{key}", bucket=store.bucket, key=key,
            format="mp3", size=len(audio), conversation_id=conversation_id,
            provider_call_sid=call.provider_call_sid))
        self._transcripts.link_recording(conversation_id, recording.recording_sid)
        self._calls.annotate(call.id, {"recordingUrl": recording.url}, now=now, only_if_missing="recordingUrl")
        self._event_log.record(call.id, "post_call_audio", source="elevenlabs", provider_call_sid=call.provider_call_sid,
                               data={"conversationId": conversation_id, "recordingId": recording.id, "size": len(audio)})
        return {"callId": call.id, "status": "stored"}

    def _initiation_failure(self, call: Call, data: Mapping[str, Any], occurred_at: datetime | None
                            ) -> dict[str, Any]:
        reason = str(data.get("failure_reason") or "unknown")
        outbound, failure = INITIATION_FAILURES.get(reason, (None, FailureReason.NETWORK_ERROR))
        fields: dict[str, Any] = {"failureReason": failure.value, "endedAt": occurred_at or clock.now()}
        if outbound:
            fields["outboundStatus"] = outbound.value
        body = (data.get("metadata") or {}).get("body") or {}
        self._finish(call, CallStatus.FAILED, "call_initiation_failure", occurred_at, fields,
                     data={"conversationId": data.get("conversation_id"), "failureReason": reason,
                           "metadata": data.get("metadata") or {}},
                     provider_call_sid=body.get("CallSid"))
        return {"callId": call.id, "status": "applied"}

    def _finish(self, call: Call, to: CallStatus, event_type: str, occurred_at: datetime | None,
                fields: dict[str, Any], *, data: dict[str, Any] | None = None,
                provider_call_sid: str | None = None) -> None:
        now = clock.now()
        fields = {k: v for k, v in fields.items() if v is not None}
        fields.setdefault("endedAt", now)
        ended = self._calls.transition(call.id, to=to, allowed_from=predecessors(to), fields=fields, now=now)
        current = ended or self._calls.get(call.id)
        self._event_log.record(call.id, event_type, source="elevenlabs", applied=ended is not None,
                               reason=None if ended else f"already {current.status}",
                               from_status=call.status, to_status=to, occurred_at=occurred_at,
                               provider_call_sid=provider_call_sid or call.provider_call_sid, data=data or {})
        if ended is not None and to in TERMINAL:
            self._on_call_ended(ended)

    # ---------------------------------------------------------------- recordings

    def apply_recording(self, call_id: str, update: RecordingUpdate, *, source: str, raw: dict) -> Recording:
        """A carrier's recording report (Twilio recording status callback, or
        the RecordingUrl of Exotel's terminal callback)."""
        call = self._calls.get(call_id)
        if call is None:
            raise NotFound(f"no call {call_id}", field="callId")
        if not update.recording_sid:
            raise ValidationFailed("RecordingSid is required", field="RecordingSid")
        if call.provider_call_sid and update.call_sid and update.call_sid != call.provider_call_sid:
            raise ValidationFailed("the recording belongs to another carrier call", field="CallSid")
        now = clock.now()
        recording = self._recordings.upsert(Recording(
            id=new_id("rec"), created_at=now, updated_at=now, call_id=call.id, recording_sid=update.recording_sid,
            source=source, status=update.status, url=update.url, duration=update.duration, channels=update.channels,
            format=_format(update.url), provider_call_sid=update.call_sid or call.provider_call_sid,
            conversation_id=call.conversation_id))
        if recording.status == "completed" and recording.url:
            self._calls.annotate(call.id, {"recordingUrl": recording.url}, now=now)
        self._event_log.record(call.id, f"recording_{update.status}", source=source,
                               provider_call_sid=update.call_sid, data=raw)
        return recording

    # ---------------------------------------------------------------- reading

    def transcript(self, call_id: str) -> Transcript:
        self._require(call_id)
        transcript = self._transcripts.for_call(call_id)
        if transcript is None:
            raise NotFound(f"call {call_id} has no transcript (yet)", field="callId")
        return transcript

    def recording(self, call_id: str) -> tuple[Recording, list[Recording], str | None]:
        """The call's best recording (completed, ours over the carrier's), all
        of them, and a link to download the best one."""
        self._require(call_id)
        recordings = self._recordings.for_call(call_id)
        completed = [r for r in recordings if r.status == "completed"]
        if not completed:
            raise NotFound(f"call {call_id} has no recording (yet)", field="callId")
        best = next((r for r in completed if r.key), completed[-1])
        link = self._store().download_url(best.key) if best.key else best.url
        return best, recordings, link

    def _require(self, call_id: str) -> Call:
        call = self._calls.get(call_id)
        if call is None:
            raise NotFound(f"no call {call_id}", field="callId")
        return call


def _turns(raw: list, duration: Any) -> list[Turn]:
    """ElevenLabs transcript entries {role, message, time_in_call_secs, ...}:
    a turn ends where the next one starts (the last one at the call's end)."""
    entries = [e for e in raw if isinstance(e, dict) and e.get("role") in ("agent", "user") and e.get("message")]
    turns = []
    for n, entry in enumerate(entries):
        start = _float(entry.get("time_in_call_secs"))
        following = _float(entries[n + 1].get("time_in_call_secs")) if n + 1 < len(entries) else _float(duration)
        turns.append(Turn(speaker=entry["role"], text=entry["message"], start_time=start,
                          end_time=following if following is not None and start is not None
                          and following >= start else None))
    return turns


def _analysis(raw: Mapping[str, Any]) -> Analysis:
    criteria = raw.get("evaluation_criteria_results") or {}
    checks = [CriteriaCheck(name=result.get("criteria_id") or name,
                            passed={"success": True, "failure": False}.get(result.get("result")),
                            details=result.get("rationale") or None)
              for name, result in criteria.items() if isinstance(result, dict)]
    collected = {name: {"value": result.get("value"), "rationale": result.get("rationale")}
                 for name, result in (raw.get("data_collection_results") or {}).items() if isinstance(result, dict)}
    sentiment = raw.get("sentiment")   # not in ElevenLabs' analysis today; kept when a collector provides it
    return Analysis(summary=raw.get("transcript_summary") or None, call_successful=raw.get("call_successful"),
                    criteria_checks=checks, data_collection=collected,
                    sentiment=Sentiment(overall=str(sentiment)) if isinstance(sentiment, str) else None)


def _short_transcript(turns: list[Turn], started: datetime | None) -> list[TranscriptLine]:
    return [TranscriptLine(speaker="assistant" if turn.speaker == "agent" else "user", text=turn.text[:SHORT_TEXT],
                           timestamp=started + timedelta(seconds=turn.start_time)
                           if started and turn.start_time is not None else None)
            for turn in turns[:SHORT_TRANSCRIPT_TURNS]]


def _clip(text: str | None) -> str | None:
    return text[:SHORT_TEXT] if text else None


def _span(turn: Turn) -> float | None:
    if turn.start_time is None or turn.end_time is None:
        return None
    return round(turn.end_time - turn.start_time, 3)


def _format(url: str | None) -> str | None:
    if not url or "." not in url.rsplit("/", 1)[-1]:
        return None
    return url.rsplit(".", 1)[-1].lower()[:8]


def _unix(value: Any) -> datetime | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
