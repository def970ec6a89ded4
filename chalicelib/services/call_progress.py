"""What the carrier tells us about a live call: status callbacks and the
instructions it asks for when the call is answered."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Callable, Mapping

from .. import clock
from ..errors import NotFound
from ..models.agent import Agent
from ..models.call import Call
from ..models.call_status import (TERMINAL, CallStatus, FailureReason, OutboundStatus, can_transition,
                                  predecessors)
from ..providers.base import ProviderError
from ..providers.elevenlabs import CALL_ID_VARIABLE
from ..providers.exotel import parse_status_callback as parse_exotel_callback
from ..providers.twilio import (RecordingUpdate, StatusUpdate, UnknownCallStatus, is_machine,
                                parse_status_callback)
from ..repositories.agents import AgentRepository
from ..repositories.call_events import CallEventRepository
from ..repositories.calls import CallRepository
from .events import EventLog

LIVE = frozenset(CallStatus) - TERMINAL


class CallProgressService:
    def __init__(self, *, calls: CallRepository, events: CallEventRepository, agents: AgentRepository,
                 on_call_ended: Callable[[Call], None] = lambda call: None,
                 signed_url: Callable[[str], str] | None = None,
                 on_recording: Callable[..., Any] = lambda call_id, update, **kwargs: None):
        self._signed_url = signed_url
        self._on_recording = on_recording
        self._calls = calls
        self._on_call_ended = on_call_ended
        self._event_log = EventLog(events)
        self._agents = agents

    def apply_twilio_status(self, call_id: str, params: Mapping[str, str], *, raw: dict | None = None) -> Call:
        """Apply a status callback. `params` holds each field's value, `raw`
        the payload as received (repeated fields keep all their values)."""
        call = self._require(call_id)
        source = call.provider if call.provider in ("twilio", "simulated") else "twilio"
        return self._apply(call, params.get("CallStatus") or "unknown", params.get("CallSid") or None,
                           lambda: parse_status_callback(params), source=source, data=raw or dict(params))

    def apply_exotel_status(self, call_id: str, params: Mapping[str, Any]) -> Call:
        """An Exotel status callback (`answered` or `terminal`); its RecordingUrl
        becomes the call's recording."""
        call = self._require(call_id)
        sid = str(params.get("CallSid") or "") or None
        event_type = str(params.get("Status") or params.get("EventType") or "unknown")
        recording_url = params.get("RecordingUrl")
        # The recording first: a client that sees the call final finds its recording too.
        if recording_url and sid and (not call.provider_call_sid or sid == call.provider_call_sid):
            self._on_recording(call.id, RecordingUpdate(recording_sid=sid, call_sid=sid, status="completed",
                                                        url=str(recording_url), duration=None, channels=None),
                               source="exotel", raw={"RecordingUrl": recording_url, "CallSid": sid})
        return self._apply(call, event_type, sid, lambda: parse_exotel_callback(params), source="exotel",
                           data=dict(params))

    def _apply(self, call: Call, event_type: str, sid: str | None, parse: Callable[[], StatusUpdate], *,
               source: str, data: dict) -> Call:
        call_id = call.id
        base = {"source": source, "provider_call_sid": sid, "data": data, "from_status": call.status}
        if call.provider_call_sid and sid and sid != call.provider_call_sid:
            self._event_log.record(call_id, event_type, applied=False,
                                   reason="callback for a different provider call", **base)
            return call
        if not call.provider_call_sid and call.dial_attempts == 0:
            # We never asked a carrier for this call: nothing it says applies.
            self._event_log.record(call_id, event_type, applied=False, reason="the call was never dialed", **base)
            return call
        try:
            update = parse()
        except UnknownCallStatus as exc:
            self._event_log.record(call_id, event_type, applied=False, reason=str(exc), **base)
            return call

        update = _settle_machine_answer(update, call)
        if not can_transition(call.status, update.status):
            reason = (f"already {call.status}" if update.status == call.status
                      else f"{call.status} -> {update.status} is not allowed")
            self._event_log.record(call_id, event_type, applied=False, reason=reason,
                                   to_status=update.status, **base)
            if update.status == call.status and call.status in TERMINAL:
                self._on_call_ended(call)   # idempotent: a repeated final callback completes lost follow-up work
            return call

        now = clock.now()
        updated = self._calls.transition(call_id, to=update.status, allowed_from=predecessors(update.status),
                                         fields=_fields(update, now), now=now)
        if updated is None:  # another callback won the race; it was re-checked against the table
            self._event_log.record(call_id, event_type, applied=False, reason="status changed concurrently",
                                   to_status=update.status, **base)
            return self._require(call_id)
        self._event_log.record(call_id, event_type, to_status=update.status, occurred_at=update.timestamp, **base)
        if update.status in TERMINAL:
            self._on_call_ended(updated)
        return updated

    def apply_twilio_status_by_sid(self, params: Mapping[str, str], *, raw: dict | None = None) -> Call:
        call = self._calls.find_by_provider_sid(params.get("CallSid") or "")
        if call is None:
            raise NotFound("no call with this CallSid", field="CallSid")
        return self.apply_twilio_status(call.id, params, raw=raw)

    def answer(self, call_id: str, params: Mapping[str, str]) -> str:
        """The TwiML the carrier runs once the call is answered."""
        from twilio.twiml.voice_response import Connect, VoiceResponse

        call = self._require(call_id)
        agent = self._agents.get(call.agent_id)
        answered_by = params.get("AnsweredBy") or None
        source = "twilio" if call.provider == "twilio" else "simulated"
        response = VoiceResponse()
        if agent is None or call.status in TERMINAL:
            response.hangup()
            return str(response)

        fields: dict = {}
        if answered_by:
            fields["answeredBy"] = answered_by
        if is_machine(answered_by):
            fields["outboundStatus"] = OutboundStatus.VOICEMAIL.value
            if answered_by.startswith("machine_end"):
                response.say(_fill(agent.config.voicemail_message, agent))
                fields["metadata.voicemailLeft"] = True
        elif agent.elevenlabs.agent_id and self._signed_url is not None:
            stream = self._conversation_stream(call, agent)
            if stream is not None:
                connect = Connect()
                connect.append(stream)
                response.append(connect)
                fields["outboundStatus"] = OutboundStatus.CONNECTED.value
                self._calls.set_fields_while(call_id, LIVE, fields, now=clock.now())
                self._event_log.record(call_id, "answered_instructions", source=source,
                                       provider_call_sid=params.get("CallSid"),
                                       data={"answeredBy": answered_by, "conversation": "elevenlabs"})
                return str(response)
            _say_script(response, agent)
        else:
            _say_script(response, agent)
        response.hangup()
        if fields:
            self._calls.set_fields_while(call_id, LIVE, fields, now=clock.now())
        self._event_log.record(call_id, "answered_instructions", source=source, provider_call_sid=params.get("CallSid"),
                               data={"answeredBy": answered_by, "voicemailLeft": fields.get("metadata.voicemailLeft", False)})
        return str(response)

    def _conversation_stream(self, call: Call, agent: Agent):
        """<Stream> to a fresh signed conversation URL of the agent, carrying
        the greeting and the person's dynamic variables as custom parameters
        (Twilio hands them to the stream's `start` message)."""
        from twilio.twiml.voice_response import Stream

        try:
            url = self._signed_url(agent.elevenlabs.agent_id)
        except ProviderError as exc:
            self._event_log.record(call.id, "agent_unavailable", reason=str(exc)[:500])
            return None
        stream = Stream(url=url)
        stream.parameter(name="first_message", value=_fill(agent.config.outbound_greeting, agent))
        for name, value in call.dynamic_variables.items():
            stream.parameter(name=name, value=str(value))
        stream.parameter(name=CALL_ID_VARIABLE, value=call.id)
        return stream

    def _require(self, call_id: str) -> Call:
        call = self._calls.get(call_id)
        if call is None:
            raise NotFound(f"no call {call_id}", field="callId")
        return call


def _say_script(response, agent: Agent) -> None:
    """No conversational agent: the agent's greeting and goodbye."""
    response.say(_fill(agent.config.outbound_greeting, agent))
    response.pause(length=1)
    response.say(_fill(agent.config.outbound_goodbye_message, agent))


def _settle_machine_answer(update: StatusUpdate, call: Call) -> StatusUpdate:
    """A call 'completed' by an answering machine did not reach the person."""
    answered_by = update.answered_by or call.answered_by
    if update.status == CallStatus.COMPLETED and is_machine(answered_by):
        return replace(update, status=CallStatus.FAILED, outbound_status=OutboundStatus.VOICEMAIL,
                       failure_reason=FailureReason.VOICEMAIL, answered_by=answered_by)
    return update


def _fields(update: StatusUpdate, now) -> dict:
    at = update.timestamp or now
    fields: dict = {}
    if update.outbound_status:
        fields["outboundStatus"] = update.outbound_status.value
    if update.failure_reason:
        fields["failureReason"] = update.failure_reason.value
    if update.answered_by:
        fields["answeredBy"] = update.answered_by
    if update.status == CallStatus.IN_PROGRESS:
        fields["startedAt"] = at
    if update.status in TERMINAL:
        fields["endedAt"] = at
        if update.duration is not None:
            fields["duration"] = update.duration
    if update.price is not None:
        fields["price"] = update.price
        fields["priceCurrency"] = update.price_currency or "USD"
    return fields


_PLACEHOLDER = re.compile(r"\{(agentName|company|callbackNumber)\}")


def fill(template: str, agent: Agent) -> str:
    """Fill {agentName}, {company} and {callbackNumber}; leave any other brace alone."""
    values = {"agentName": agent.name, "company": agent.company or "",
              "callbackNumber": agent.config.callback_number or agent.from_number or ""}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


_fill = fill
