"""Webhook payloads shaped exactly like the providers' documented examples.
Only ids, numbers and texts change between tests (through the builders)."""
from __future__ import annotations

import copy
import json
import time

# ElevenLabs post-call webhooks: the three types, `type` / `event_timestamp` / `data`.
# https://elevenlabs.io/docs/eleven-agents/workflows/post-call-webhooks
ELEVENLABS_TRANSCRIPTION = {
    "type": "post_call_transcription",
    "event_timestamp": 1739537297,
    "data": {
        "agent_id": "xyz",
        "conversation_id": "abc",
        "status": "done",
        "user_id": "user123",
        "transcript": [
            {"role": "agent", "message": "Hey there angelo. How are you?", "tool_calls": None,
             "tool_results": None, "feedback": None, "time_in_call_secs": 0, "conversation_turn_metrics": None},
            {"role": "user", "message": "Hey, can you tell me, like, a fun fact about 11 Labs?", "tool_calls": None,
             "tool_results": None, "feedback": None, "time_in_call_secs": 2, "conversation_turn_metrics": None},
            {"role": "agent", "message": "I do not have access to fun facts about Eleven Labs. However, I can "
                                         "share some general information about the company.", "tool_calls": None,
             "tool_results": None, "feedback": None, "time_in_call_secs": 9, "conversation_turn_metrics": None},
        ],
        "metadata": {
            "start_time_unix_secs": 1739537297,
            "call_duration_secs": 22,
            "cost": 296,
            "deletion_settings": {"deletion_time_unix_secs": 1802609320, "deleted_logs_at_time_unix_secs": None,
                                  "deleted_audio_at_time_unix_secs": None,
                                  "deleted_transcript_at_time_unix_secs": None, "delete_transcript_and_pii": True,
                                  "delete_audio": True},
            "feedback": {"overall_score": None, "likes": 0, "dislikes": 0},
            "authorization_method": "authorization_header",
            "charging": {"dev_discount": True},
            "termination_reason": "",
            "phone_call": {"direction": "outbound", "phone_number_id": "phnum_xyz", "agent_number": "+14155550199",
                           "external_number": "+14155552671", "type": "twilio", "stream_sid": "MZxyz",
                           "call_sid": "CAxyz"},
        },
        "analysis": {
            "evaluation_criteria_results": {
                "appointment_confirmed": {"criteria_id": "appointment_confirmed", "result": "success",
                                          "rationale": "The user confirmed the appointment."},
                "polite_close": {"criteria_id": "polite_close", "result": "unknown",
                                 "rationale": "The call ended before a goodbye."},
            },
            "data_collection_results": {
                "preferred_time": {"data_collection_id": "preferred_time", "value": "morning",
                                   "json_schema": {"type": "string", "description": "When to call back"},
                                   "rationale": "The user said mornings work best."},
            },
            "call_successful": "success",
            "transcript_summary": "The conversation begins with the agent asking how Angelo is, but Angelo "
                                  "redirects the conversation by requesting a fun fact about 11 Labs.",
        },
        "conversation_initiation_client_data": {
            "conversation_config_override": {"agent": {"prompt": None, "first_message": None, "language": "en"},
                                             "tts": {"voice_id": None}},
            "custom_llm_extra_body": {},
            "dynamic_variables": {"user_name": "angelo"},
        },
    },
}

ELEVENLABS_AUDIO = {
    "type": "post_call_audio",
    "event_timestamp": 1739537319,
    "data": {
        "agent_id": "xyz",
        "conversation_id": "abc",
        "full_audio": "SUQzBAAAAAAAI1RTU0UAAAAPAAADTGF2ZjYxLjcuMTAwAAAAAAAAAAAAAAD/+0DAAAAAAAAAAAAAAAAAAAAAAABJbmZv",
    },
}

ELEVENLABS_INITIATION_FAILURE = {
    "type": "call_initiation_failure",
    "event_timestamp": 1759931652,
    "data": {
        "agent_id": "xyz",
        "conversation_id": "abc",
        "failure_reason": "busy",
        "metadata": {
            "type": "twilio",
            "body": {
                "Called": "+441111111111", "ToState": "", "CallerCountry": "US", "Direction": "outbound-api",
                "Timestamp": "Tue, 07 Oct 2025 16:11:19 +0000", "CallbackSource": "call-progress-events",
                "SipResponseCode": "487", "CallerState": "WA", "ToZip": "", "SequenceNumber": "2",
                "CallSid": "CAxyz", "To": "+441111111111", "CallerZip": "", "ToCountry": "GB", "CalledZip": "",
                "ApiVersion": "2010-04-01", "CalledCity": "", "CallStatus": "busy", "Duration": "0",
                "From": "+15555555555", "CallDuration": "0", "AccountSid": "ACxyz", "CalledCountry": "GB",
                "CallerCity": "", "ToCity": "", "FromCountry": "US", "Caller": "+15555555555", "FromCity": "",
                "CalledState": "", "FromZip": "", "FromState": "WA",
            },
        },
    },
}


def elevenlabs(template: dict, *, conversation_id: str, call_sid: str | None = None, agent_id: str = "xyz",
               dynamic_variables: dict | None = None, failure_reason: str | None = None,
               event_timestamp: int | None = None) -> dict:
    payload = copy.deepcopy(template)
    data = payload["data"]
    data["conversation_id"] = conversation_id
    data["agent_id"] = agent_id
    payload["event_timestamp"] = event_timestamp or int(time.time())
    if "phone_call" in data.get("metadata", {}):
        data["metadata"]["phone_call"]["call_sid"] = call_sid
    if "body" in data.get("metadata", {}):
        data["metadata"]["body"]["CallSid"] = call_sid
    if dynamic_variables is not None:
        data["conversation_initiation_client_data"]["dynamic_variables"] = dynamic_variables
    if failure_reason:
        data["failure_reason"] = failure_reason
    return payload


def dumps(payload: dict) -> bytes:
    return json.dumps(payload).encode()


# Twilio recording status callback (form fields).
# https://www.twilio.com/docs/voice/api/recording#recordingstatuscallback
def twilio_recording(call_sid: str, recording_sid: str = "RE" + "1" * 32, status: str = "completed") -> dict:
    return {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": call_sid,
        "RecordingSid": recording_sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{recording_sid}",
        "RecordingStatus": status,
        "RecordingDuration": "21" if status == "completed" else "",
        "RecordingChannels": "1",
        "RecordingStartTime": "Sat, 21 Nov 2026 18:00:05 +0000",
        "RecordingSource": "OutboundAPI",
        "RecordingTrack": "both",
    }


# Exotel StatusCallback with StatusCallbackEvents `answered` and `terminal`.
# https://developer.exotel.com/docs/voice-v1/api-reference/status-callback
# https://developer.exotel.com/docs/references/webhooks
def exotel_callback(call_sid: str, *, event: str, status: str, duration: int = 0,
                    recording_url: str | None = None, custom_field: str | None = None) -> dict:
    return {
        "CallSid": call_sid,
        "EventType": event,
        "DateCreated": "2026-11-21 23:30:00",
        "DateUpdated": "2026-11-21 23:30:45",
        "Status": status,
        "To": "",
        "From": "+919900000001",
        "PhoneNumberSid": "08047112233",
        "StartTime": "2026-11-21 23:30:00",
        "EndTime": "2026-11-21 23:30:45" if event == "terminal" else None,
        "ConversationDuration": duration,
        "RecordingUrl": recording_url,
        "Direction": "outbound-api",
        "CustomField": custom_field,
        "Legs": [{"OnCallDuration": duration, "Status": status}],
    }
