"""The conversation: ElevenLabs on the line, Exotel as a second carrier,
voicemail, recordings and transcripts arriving in any order."""
from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

import boto3
import pytest

from chalicelib import clock
from chalicelib.container import Container, get_container, set_container
from chalicelib.settings import reset_settings
from scripts.devstack.fake_elevenlabs import FakeElevenLabs
from tests.api.conftest import RecordedSleep
from tests.api.test_calls import create_call
from tests.conftest import make_key
from tests.helpers import FakeProvider, body, post_json, signed_form, twilio_callback
from tests.provider_payloads import (ELEVENLABS_AUDIO, ELEVENLABS_INITIATION_FAILURE, ELEVENLABS_TRANSCRIPTION,
                                     dumps, elevenlabs, exotel_callback, twilio_recording)

SECRET = "test-elevenlabs-webhook-secret"
EXOTEL_TOKEN = "test-exotel-token-0123456789abcdef"
BUCKET = "outdial-recordings-test"


@pytest.fixture(scope="module")
def fake_elevenlabs():
    fake = FakeElevenLabs(api_key="test-xi-key", webhook_secret=SECRET).start()   # no webhook URL: tests post them
    yield fake
    fake.stop()


@pytest.fixture
def env(app_env, sqs, monkeypatch, fake_elevenlabs):
    for key, value in {"ELEVENLABS_API_KEY": "test-xi-key", "ELEVENLABS_WEBHOOK_SECRET": SECRET,
                       "ELEVENLABS_BASE_URL": fake_elevenlabs.base_url, "ELEVENLABS_PHONE_NUMBER_ID": "phnum_test",
                       "EXOTEL_ACCOUNT_SID": "outdial-test", "EXOTEL_API_KEY": "k", "EXOTEL_API_TOKEN": "t",
                       "EXOTEL_WEBHOOK_TOKEN": EXOTEL_TOKEN, "RECORDINGS_BUCKET": BUCKET}.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    set_container(None)
    boto3.client("s3").create_bucket(Bucket=BUCKET)


@pytest.fixture
def carriers(env, client):
    """Recording carriers for Twilio (simulated) and Exotel; ElevenLabs
    dialing goes to the local fake over HTTP."""
    fakes = {"simulated": FakeProvider(), "exotel": FakeProvider()}
    fakes["exotel"].name = "exotel"
    container = Container()
    container._providers.update(fakes)
    container.dial_service._sleep = RecordedSleep()
    set_container(container)
    return fakes


@pytest.fixture
def ava(env, client):
    response = post_json(client, "/agents", {"name": "Ava", "company": "Acme Dental", "fromNumber": "+14155550199",
                                             "elevenlabs": {"agentId": "agent_ava"},
                                             "config": {"callbackNumber": "+14155550123",
                                                        "outboundGreeting": "Hi {agentName} here from {company}"}})
    assert response.status_code == 201, response.body
    return body(response)


def signed(payload: dict | bytes, *, secret: str = SECRET, at: int | None = None) -> tuple[dict, bytes]:
    raw = payload if isinstance(payload, bytes) else dumps(payload)
    t = at if at is not None else int(clock.now().timestamp())
    digest = hmac.new(secret.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "elevenlabs-signature": f"t={t},v0={digest}"}, raw


def post_elevenlabs(client, payload, **kwargs):
    headers, raw = signed(payload, **kwargs)
    return client.http.post("/webhooks/elevenlabs", headers=headers, body=raw)


def post_recording(client, call_id, params):
    headers, form = signed_form(f"webhooks/twilio/recording/{call_id}", params)
    return client.http.post(f"/webhooks/twilio/recording/{call_id}", headers=headers, body=form)


def post_exotel(client, call_id, payload, token=EXOTEL_TOKEN):
    return client.http.post(f"/webhooks/exotel/{token}/status/{call_id}", headers={"content-type": "application/json"},
                            body=json.dumps(payload))


def dialed(client, agent, **extra):
    call = create_call(client, agent, **extra)
    get_container().dial_service.dial(call["id"])
    return body(client.http.get(f"/calls/{call['id']}"))


# ---------------------------------------------------------------- signatures

def test_elevenlabs_signature_good_wrong_secret_stale_and_tampered(client, carriers, ava):
    call = dialed(client, ava)
    payload = elevenlabs(ELEVENLABS_TRANSCRIPTION, conversation_id="conv_sig", call_sid=call["providerCallSid"])
    now = int(clock.now().timestamp())
    headers, raw = signed(payload)
    tampered = raw.replace(b"angelo", b"mallory")
    for headers_, body_ in [signed(payload, secret="not-the-secret"),
                            signed(payload, at=now - 1801),            # older than the 30-minute tolerance
                            signed(payload, at=now + 1801),            # from the future
                            (headers, tampered),
                            ({"content-type": "application/json"}, raw),
                            ({"content-type": "application/json", "elevenlabs-signature": "t=abc,v0=00"}, raw)]:
        response = client.http.post("/webhooks/elevenlabs", headers=headers_, body=body_)
        assert response.status_code == 401, response.body
        assert body(response)["error"]["code"] == "invalid_signature"
    assert body(client.http.get(f"/calls/{call['id']}/transcript"))["error"]["code"] == "not_found"
    response = client.http.post("/webhooks/elevenlabs", headers=headers, body=raw)
    assert response.status_code == 200 and body(response)["status"] == "stored"


def test_twilio_recording_callback_is_signed(client, carriers, ava):
    call = dialed(client, ava)
    path = f"webhooks/twilio/recording/{call['id']}"
    params = twilio_recording(call["providerCallSid"])
    for headers, form in [signed_form(path, params, token="wrong-token"),
                          signed_form(path, {**params, "RecordingUrl": "https://evil.test/x"})[0:1] + (
                              urlencode({**params, "RecordingUrl": "https://evil.test/y"}),),
                          ({"content-type": "application/x-www-form-urlencoded"}, urlencode(params))]:
        assert client.http.post(f"/{path}", headers=headers, body=form).status_code == 403
    assert post_recording(client, call["id"], params).status_code == 200


def test_exotel_route_needs_the_deployment_token(client, carriers, ava):
    call = dialed(client, ava, carrier="exotel")
    payload = exotel_callback(call["providerCallSid"], event="answered", status="in-progress")
    assert post_exotel(client, call["id"], payload, token="x" * len(EXOTEL_TOKEN)).status_code == 403
    assert post_exotel(client, call["id"], payload, token="short").status_code == 403
    assert body(client.http.get(f"/calls/{call['id']}"))["status"] == "initiated"
    assert post_exotel(client, call["id"], payload).status_code == 200
    assert body(client.http.get(f"/calls/{call['id']}"))["status"] == "in-progress"


# ---------------------------------------------------------------- Twilio + ElevenLabs

def test_answered_call_streams_to_the_agents_signed_url_with_greeting_and_variables(client, carriers, ava,
                                                                                   fake_elevenlabs):
    call = dialed(client, ava, dynamicVariables={"first_name": "Maya", "appointment": "Tue 10:00", "visits": 3})
    request = carriers["simulated"].placed[-1]
    assert request.recording_callback_url.endswith(f"/webhooks/twilio/recording/{call['id']}")
    assert request.conversation.elevenlabs_agent_id == "agent_ava"
    headers, form = signed_form(f"twiml/{call['id']}", {"CallSid": call["providerCallSid"], "AnsweredBy": "human"})
    xml = client.http.post(f"/twiml/{call['id']}", headers=headers, body=form).body.decode()
    host = fake_elevenlabs.base_url.removeprefix("http://")
    assert f'<Connect><Stream url="ws://{host}/v1/convai/conversation?agent_id=agent_ava&amp;conversation_signature=' \
           in xml
    assert '<Parameter name="first_message" value="Hi Ava here from Acme Dental" />' in xml
    assert '<Parameter name="first_name" value="Maya" />' in xml and '<Parameter name="visits" value="3" />' in xml
    assert f'<Parameter name="outdial_call_id" value="{call["id"]}" />' in xml
    assert "<Hangup" not in xml
    assert body(client.http.get(f"/calls/{call['id']}"))["outboundStatus"] == "connected"


ORDERS = {
    "callbacks first": ["in-progress", "completed", "recording", "transcription", "audio"],
    "webhooks first": ["transcription", "audio", "recording", "in-progress", "completed"],
    "interleaved, repeated": ["audio", "in-progress", "transcription", "recording", "completed", "transcription",
                              "audio", "recording"],
}


@pytest.mark.parametrize("order", ORDERS)
def test_twilio_call_with_conversation_recording_and_transcript_in_any_order(client, carriers, ava, order):
    call = dialed(client, ava, dynamicVariables={"user_name": "angelo"})
    sid, conversation = call["providerCallSid"], f"conv_{order.split()[0]}"
    steps = {
        "in-progress": lambda: twilio_callback(client, call["id"], "in-progress", sid, AnsweredBy="human"),
        "completed": lambda: twilio_callback(client, call["id"], "completed", sid, CallDuration="22"),
        "recording": lambda: post_recording(client, call["id"], twilio_recording(sid)),
        "transcription": lambda: post_elevenlabs(client, elevenlabs(ELEVENLABS_TRANSCRIPTION,
                                                                    conversation_id=conversation, call_sid=sid)),
        "audio": lambda: post_elevenlabs(client, elevenlabs(ELEVENLABS_AUDIO, conversation_id=conversation)),
    }
    for step in ORDERS[order]:
        response = steps[step]()
        assert response.status_code == 200, (step, response.body)

    final = body(client.http.get(f"/calls/{call['id']}"))
    assert (final["status"], final["outboundStatus"], final["duration"]) == ("completed", "connected", 22)
    assert final["conversationId"] == conversation
    assert final["outcome"]["status"] == "success" and final["outcome"]["notes"].startswith("The conversation begins")
    assert [(line["speaker"], line["text"][:9]) for line in final["transcript"]] == [
        ("assistant", "Hey there"), ("user", "Hey, can "), ("assistant", "I do not ")]
    turns = [e for e in final["events"] if e["eventType"] == "conversation_turn"]
    assert [e["conversationData"]["speakerId"] for e in turns] == ["agent", "user", "agent"]   # stored once
    assert turns[1]["conversationData"] == {"speakerId": "user", "text": turns[1]["conversationData"]["text"],
                                            "startTime": 2.0, "duration": 7.0}

    transcript = body(client.http.get(f"/calls/{call['id']}/transcript"))
    assert transcript["conversationId"] == conversation and transcript["providerCallSid"] == sid
    assert [(t["speaker"], t["startTime"], t["endTime"]) for t in transcript["turns"]] == [
        ("agent", 0, 2), ("user", 2, 9), ("agent", 9, 22)]
    assert transcript["analysis"]["criteriaChecks"] == [
        {"name": "appointment_confirmed", "passed": True, "details": "The user confirmed the appointment."},
        {"name": "polite_close", "details": "The call ended before a goodbye."}]   # "unknown": neither
    assert transcript["analysis"]["dataCollection"] == {
        "preferred_time": {"value": "morning", "rationale": "The user said mornings work best."}}
    assert transcript["recordingSid"] == conversation

    recording = body(client.http.get(f"/calls/{call['id']}/recording"))
    assert (recording["source"], recording["status"], recording["format"]) == ("elevenlabs", "completed", "mp3")
    assert recording["key"] == f"recordings/{call['id']}/{conversation}.mp3"
    assert BUCKET in recording["downloadUrl"] and "Signature" in recording["downloadUrl"]
    assert sorted(r["source"] for r in recording["recordings"]) == ["elevenlabs", "simulated"]
    stored = boto3.client("s3").get_object(Bucket=BUCKET, Key=recording["key"])["Body"].read()
    assert stored.startswith(b"ID3")
    assert final["recordingUrl"].startswith("https://api.twilio.com/")   # the carrier's completed recording


def test_voicemail_is_left_after_the_beep_and_the_retry_policy_applies(client, carriers, ava, sent):
    call = dialed(client, ava, retryPolicy={"maxRetries": 2, "intervalsMinutes": [30, 60], "jitter": 0})
    sid = call["providerCallSid"]
    twilio_callback(client, call["id"], "in-progress", sid, AnsweredBy="machine_end_beep")
    headers, form = signed_form(f"twiml/{call['id']}", {"CallSid": sid, "AnsweredBy": "machine_end_beep"})
    xml = client.http.post(f"/twiml/{call['id']}", headers=headers, body=form).body.decode()
    assert "<Say>Hello, this is Ava from Acme Dental. Please call us back at +14155550123. Thank you!</Say>" in xml
    assert "<Stream" not in xml                   # an answering machine is not put through to the agent
    twilio_callback(client, call["id"], "completed", sid, CallDuration="14")
    final = body(client.http.get(f"/calls/{call['id']}"))
    assert (final["status"], final["outboundStatus"], final["failureReason"]) == ("failed", "voicemail", "voicemail")
    assert final["metadata"]["voicemailLeft"] is True
    [attempt] = body(client.http.get(f"/calls/{call['id']}/retries"))["items"]
    assert (attempt["attemptNumber"], attempt["failureReason"]) == (1, "voicemail")


# ---------------------------------------------------------------- Exotel

@pytest.mark.parametrize("transcript_first", [True, False])
def test_exotel_call_with_conversation_and_recording(client, carriers, ava, transcript_first):
    patch = client.http.patch(f"/agents/{ava['id']}", headers={"content-type": "application/json"},
                              body=json.dumps({"carrier": "exotel"}))
    assert patch.status_code == 200 and body(patch)["carrier"] == "exotel"
    call = dialed(client, ava, dynamicVariables={"first_name": "Ravi"})
    assert call["provider"] == "exotel" and not carriers["simulated"].placed
    request = carriers["exotel"].placed[-1]
    assert request.status_callback_url.endswith(f"/webhooks/exotel/{EXOTEL_TOKEN}/status/{call['id']}")
    sid = call["providerCallSid"]
    # An Exotel flow's agent knows our call only by the id in its dynamic variables.
    transcription = elevenlabs(ELEVENLABS_TRANSCRIPTION, conversation_id=f"conv_x{transcript_first}", call_sid=None,
                               dynamic_variables={"first_name": "Ravi", "outdial_call_id": call["id"]})
    if transcript_first:
        assert body(post_elevenlabs(client, transcription))["status"] == "stored"
    assert post_exotel(client, call["id"], exotel_callback(sid, event="answered", status="in-progress")).status_code \
        == 200
    recording_url = f"https://s3-ap-southeast-1.amazonaws.com/exotelrecordings/outdial/{sid}.mp3"
    response = post_exotel(client, call["id"], exotel_callback(sid, event="terminal", status="completed", duration=45,
                                                               recording_url=recording_url, custom_field=call["id"]))
    assert body(response) == {"callId": call["id"], "status": "completed"}
    if not transcript_first:
        assert body(post_elevenlabs(client, transcription))["status"] == "stored"

    final = body(client.http.get(f"/calls/{call['id']}"))
    assert (final["status"], final["outboundStatus"], final["duration"]) == ("completed", "connected", 45)
    assert final["recordingUrl"] == recording_url and final["outcome"]["status"] == "success"
    assert [(e["eventType"], e["source"], e["applied"]) for e in final["events"] if e["source"] == "exotel"] == [
        ("in-progress", "exotel", True), ("recording_completed", "exotel", True), ("completed", "exotel", True)]
    recording = body(client.http.get(f"/calls/{call['id']}/recording"))
    assert (recording["recordingSid"], recording["source"], recording["format"]) == (sid, "exotel", "mp3")
    assert recording["downloadUrl"] == recording_url
    assert body(client.http.get(f"/calls/{call['id']}/transcript"))["callId"] == call["id"]


@pytest.mark.parametrize("status, outbound, reason", [("busy", "busy", "busy"),
                                                      ("no-answer", "no_answer", "no_answer"),
                                                      ("failed", None, "network_error")])
def test_exotel_failures_map_into_the_state_machine_and_are_retried(client, carriers, ava, status, outbound, reason):
    call = dialed(client, ava, carrier="exotel", retryPolicy={"maxRetries": 1, "intervalsMinutes": [30], "jitter": 0})
    response = post_exotel(client, call["id"], exotel_callback(call["providerCallSid"], event="terminal", status=status))
    assert response.status_code == 200
    final = body(client.http.get(f"/calls/{call['id']}"))
    assert (final["status"], final.get("outboundStatus"), final["failureReason"]) == (
        "failed", outbound or "queued", reason)
    assert len(body(client.http.get(f"/calls/{call['id']}/retries"))["items"]) == 1
    # Exotel retries a callback it thinks failed: the second delivery changes nothing.
    post_exotel(client, call["id"], exotel_callback(call["providerCallSid"], event="terminal", status=status))
    assert len(body(client.http.get(f"/calls/{call['id']}/retries"))["items"]) == 1


# ---------------------------------------------------------------- ElevenLabs dialing

def test_elevenlabs_dialing_mode_places_the_call_and_its_webhook_ends_it(client, carriers, ava, fake_elevenlabs):
    call = dialed(client, ava, carrier="elevenlabs", dynamicVariables={"first_name": "Lee"})
    assert call["provider"] == "elevenlabs" and call["providerCallSid"].startswith("CA")
    conversation = fake_elevenlabs.conversations[call["conversationId"]]
    assert conversation["client_data"] == {
        "conversation_config_override": {"agent": {"first_message": "Hi Ava here from Acme Dental"}},
        "dynamic_variables": {"first_name": "Lee", "outdial_call_id": call["id"]}}
    payload = elevenlabs(ELEVENLABS_TRANSCRIPTION, conversation_id=call["conversationId"],
                         call_sid=call["providerCallSid"])
    assert body(post_elevenlabs(client, payload))["status"] == "stored"
    assert body(post_elevenlabs(client, payload))["status"] == "duplicate"
    final = body(client.http.get(f"/calls/{call['id']}"))
    assert (final["status"], final["outboundStatus"], final["duration"]) == ("completed", "connected", 22)
    assert final["startedAt"] == "2025-02-14T12:48:17Z" and final["endedAt"] == "2025-02-14T12:48:39Z"


@pytest.mark.parametrize("reason, outbound, failure", [("busy", "busy", "busy"), ("no-answer", "no_answer", "no_answer"),
                                                       ("unknown", "queued", "network_error")])
def test_call_initiation_failure_fails_the_call_and_the_retry_policy_applies(client, carriers, ava, reason, outbound,
                                                                             failure):
    call = dialed(client, ava, carrier="elevenlabs",
                  retryPolicy={"maxRetries": 1, "intervalsMinutes": [30], "jitter": 0})
    payload = elevenlabs(ELEVENLABS_INITIATION_FAILURE, conversation_id=call["conversationId"],
                         call_sid=call["providerCallSid"], failure_reason=reason)
    assert post_elevenlabs(client, payload).status_code == 200
    post_elevenlabs(client, payload)   # a repeated delivery
    final = body(client.http.get(f"/calls/{call['id']}"))
    assert (final["status"], final["outboundStatus"], final["failureReason"]) == ("failed", outbound, failure)
    failures = [e["applied"] for e in final["events"] if e["eventType"] == "call_initiation_failure"]
    assert failures == [True, False]
    assert len(body(client.http.get(f"/calls/{call['id']}/retries"))["items"]) == 1


def test_webhooks_for_conversations_we_did_not_start_are_acknowledged(client, carriers):
    payload = elevenlabs(ELEVENLABS_TRANSCRIPTION, conversation_id="conv_dashboard_test", call_sid="CAunknown")
    response = post_elevenlabs(client, payload)
    assert response.status_code == 200 and body(response)["status"] == "ignored"


def test_recording_and_transcript_need_calls_read(client, carriers, ava):
    call = dialed(client, ava)
    assert client.http.get(f"/calls/{call['id']}/recording").status_code == 404
    reader, other = make_key("calls:read"), make_key("agents:read")
    for path in (f"/calls/{call['id']}/recording", f"/calls/{call['id']}/transcript"):
        assert client.http.get(path, headers={"authorization": f"Bearer {other}"}).status_code == 403
        assert client.http.get(path, headers={"authorization": f"Bearer {reader}"}).status_code == 404
