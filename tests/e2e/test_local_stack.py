"""The README's first command, driven over HTTP: the real processes (embedded
MongoDB, moto's SQS server, the carrier simulator, `chalice local`, the
worker) placing real calls through the simulated carrier."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MONGODB_URI", "AWS_ENDPOINT_URL_SQS", "TELEPHONY_PROVIDER", "PUBLIC_BASE_URL")}
    if os.environ.get("MONGODB_URI"):
        env["MONGODB_URI"] = os.environ["MONGODB_URI"]
        env["MONGODB_DB"] = f"e2e_{os.getpid()}"
    data_dir = tmp_path_factory.mktemp("stack")
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.devstack", "--ephemeral-ports", "--data-dir",
         str(data_dir), "--time-scale", "0.05", "--schedule-interval", "1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    api = None
    lines = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("READY "):
            api = line.split()[1]
            break
    if api is None:
        process.kill()
        pytest.fail("local stack did not start:\n" + "".join(lines))
    yield api, process, (data_dir / "dev-api-key").read_text().strip()
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def http(stack):
    """Requests carrying the stack's development API key."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {stack[2]}"
    return session


def wait_final(http, api: str, call_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        call = http.get(f"{api}/calls/{call_id}", timeout=5).json()
        if call["status"] in ("completed", "failed", "cancelled"):
            return call
        time.sleep(0.2)
    pytest.fail(f"call {call_id} did not finish: {call}")


@pytest.fixture(scope="module")
def agent(stack, http):
    api, _, _ = stack
    # Calling hours around the clock, so the test passes at any time of day.
    response = http.post(f"{api}/agents", json={"name": "Ava", "company": "Acme",
                                                     "businessHours": {"start": "00:00", "end": "00:00"}}, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()


def place(http, api, agent, to):
    response = http.post(f"{api}/calls", json={"to": to, "agentId": agent["id"]}, timeout=5)
    assert response.status_code == 202, response.text
    return response.json()


def test_a_call_is_placed_answered_and_completed(stack, http, agent):
    api, _, _ = stack
    call = wait_final(http, api, place(http, api, agent, "(415) 555-2671")["id"])
    assert (call["status"], call["outboundStatus"], call["answeredBy"]) == ("completed", "connected", "human")
    assert call["duration"] > 0 and call["providerCallSid"].startswith("CA")
    # (the recording is reported after the call ends: see the conversation tests below)
    applied = [e["eventType"] for e in call["events"] if e["applied"] and not e["eventType"].startswith("recording")]
    assert applied == ["created", "dispatched", "dialed", "ringing", "in-progress", "answered_instructions",
                       "completed"]
    assert all(e["source"] in ("api", "internal", "simulated") for e in call["events"])


def test_the_scheduled_roll_up_and_the_stats_see_the_calls(stack, http, agent):
    api, _, _ = stack
    wait_final(http, api, place(http, api, agent, "(415) 555-2681")["id"])
    stats = http.get(f"{api}/calls/stats", timeout=5).json()
    assert stats["callVolume"]["byStatus"]["completed"] >= 1 and stats["outcomes"]["answerRate"] > 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:        # the worker fires roll_up_analytics every second
        items = http.get(f"{api}/analytics?type=daily&timezone=Asia/Kolkata", timeout=5).json()["items"]
        if items and items[-1]["callVolume"]["byStatus"].get("completed", 0) >= 1:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"no daily analytics with the completed call: {items}")
    assert sum(items[-1]["callVolume"]["byHour"]) == items[-1]["callVolume"]["total"]


def test_a_busy_number_fails_as_busy(stack, http, agent):
    api, _, _ = stack
    call = wait_final(http, api, place(http, api, agent, "+1 415 555 0002")["id"])
    assert (call["status"], call["outboundStatus"], call["failureReason"]) == ("failed", "busy", "busy")
    # The retry is scheduled just after the final status is stored: give it a moment.
    deadline = time.monotonic() + 10
    while "retry_scheduled" not in (applied := [e["eventType"] for e in call["events"] if e["applied"]]) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
        call = http.get(f"{api}/calls/{call['id']}", timeout=5).json()
    assert applied == ["created", "dispatched", "dialed", "ringing", "busy", "retry_scheduled"]
    [attempt] = http.get(f"{api}/calls/{call['id']}/retries", timeout=5).json()["items"]
    assert (attempt["attemptNumber"], attempt["status"], attempt["failureReason"]) == (1, "pending", "busy")


def test_an_invalid_number_at_the_carrier_fails_without_callbacks(stack, http, agent):
    api, _, _ = stack
    call = wait_final(http, api, place(http, api, agent, "+1 415 555 0001")["id"])
    assert (call["status"], call["failureReason"]) == ("failed", "invalid_number")


def test_a_call_scheduled_five_seconds_ahead_is_dialed_on_time(stack, http, agent):
    api, _, _ = stack
    due = datetime.now(timezone.utc) + timedelta(seconds=5)
    response = http.post(f"{api}/calls", json={"to": "+1 415 555 2672", "agentId": agent["id"],
                                                   "scheduledFor": due.isoformat()}, timeout=5)
    assert response.status_code == 202, response.text
    call = response.json()
    assert call["status"] == "initiated" and call["scheduleId"]
    time.sleep(2)
    assert http.get(f"{api}/calls/{call['id']}", timeout=5).json().get("providerCallSid") is None  # not early
    final = wait_final(http, api, call["id"])
    assert final["status"] == "completed"
    dialed = datetime.fromisoformat(next(e for e in final["events"] if e["eventType"] == "dialed")["timestamp"])
    assert timedelta(0) <= dialed - due < timedelta(seconds=3)


def wait_for(http, url: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = http.get(url, timeout=5)
        if response.status_code == 200:
            return response.json()
        time.sleep(0.2)
    pytest.fail(f"{url} never answered 200: {response.text}")


def conversational_agent(http, api, **extra) -> dict:
    response = http.post(f"{api}/agents", json={"name": "Eve", "company": "Acme", "elevenlabs": {"agentId": "agent_eve"},
                                                "businessHours": {"start": "00:00", "end": "00:00"}, **extra},
                         timeout=5)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_conversation_through_the_simulated_twilio_leaves_transcript_and_recordings(stack, http):
    """Simulator -> TwiML <Connect><Stream> to the fake ElevenLabs' signed URL ->
    signed post-call webhooks -> transcript, audio in S3 (moto), Twilio's recording."""
    api, _, _ = stack
    agent = conversational_agent(http, api)
    response = http.post(f"{api}/calls", json={"to": "+1 415 555 2673", "agentId": agent["id"],
                                                   "dynamicVariables": {"first_name": "Maya"}}, timeout=5)
    call = wait_final(http, api, response.json()["id"])
    assert (call["status"], call["outboundStatus"]) == ("completed", "connected")
    transcript = wait_for(http, f"{api}/calls/{call['id']}/transcript")
    assert transcript["turns"][0]["text"] == "Hello! This is Eve. How can I help you today?"
    assert transcript["analysis"]["summary"] == "The agent called Maya, who confirmed."

    def both_recordings():
        recording = wait_for(http, f"{api}/calls/{call['id']}/recording")
        return recording if len(recording["recordings"]) == 2 else None

    deadline = time.monotonic() + 20
    while (recording := both_recordings()) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(r["source"] for r in recording["recordings"]) == ["elevenlabs", "simulated"]
    assert requests.get(recording["downloadUrl"], timeout=5).content.startswith(b"ID3")
    final = http.get(f"{api}/calls/{call['id']}", timeout=5).json()
    assert final["conversationId"] == transcript["conversationId"] and final["outcome"]["status"] == "success"


def test_a_call_through_the_exotel_fake_and_its_flow(stack, http):
    api, _, _ = stack
    agent = conversational_agent(http, api, carrier="exotel")
    response = http.post(f"{api}/calls", json={"to": "+1 415 555 2674", "agentId": agent["id"]}, timeout=5)
    call = wait_final(http, api, response.json()["id"])
    assert (call["status"], call["provider"], call["duration"]) == ("completed", "exotel", 3)
    assert call["recordingUrl"].endswith(f"/{call['providerCallSid']}.mp3")
    assert wait_for(http, f"{api}/calls/{call['id']}/transcript")["callId"] == call["id"]

    busy = http.post(f"{api}/calls", json={"to": "+1 415 555 0002", "agentId": agent["id"]}, timeout=5).json()
    busy = wait_final(http, api, busy["id"])
    assert (busy["status"], busy["failureReason"]) == ("failed", "busy")


def test_elevenlabs_places_the_call_itself(stack, http):
    api, _, _ = stack
    agent = conversational_agent(http, api, carrier="elevenlabs")
    response = http.post(f"{api}/calls", json={"to": "+1 415 555 2675", "agentId": agent["id"]}, timeout=5)
    call = wait_final(http, api, response.json()["id"])
    assert (call["status"], call["provider"]) == ("completed", "elevenlabs")
    assert wait_for(http, f"{api}/calls/{call['id']}/recording")["source"] == "elevenlabs"
    failed = http.post(f"{api}/calls", json={"to": "+1 415 555 0003", "agentId": agent["id"]}, timeout=5).json()
    failed = wait_final(http, api, failed["id"])
    assert (failed["status"], failed["failureReason"]) == ("failed", "no_answer")


def test_a_batch_runs_to_completion(stack, http, agent):
    api, _, _ = stack
    assert http.post(f"{api}/dnc", json={"phone": "+1 415 555 2675"}, timeout=5).status_code in (200, 201)
    response = http.post(f"{api}/calls/batch", timeout=5, json={"agentId": agent["id"], "recipients": [
        {"to": "+1 415 555 2673", "variables": {"name": "Ana"}}, {"to": "+1 415 555 2675"},
        {"to": "+1 415 555 0001"}, {"to": "+1 415 555 2674"}]})
    assert response.status_code == 202, response.text
    batch_id = response.json()["batchId"]
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        batch = http.get(f"{api}/batches/{batch_id}", timeout=5).json()
        if batch["status"] == "completed":
            break
        time.sleep(0.5)
    assert batch["status"] == "completed", batch
    assert batch["progress"]["byStatus"] == {"completed": 2, "failed": 1}
    assert batch["skipped"] == [{"index": 1, "to": "+14155552675", "reason": "do_not_call"}]


def test_a_campaign_runs_to_completion_with_mixed_outcomes_and_a_retry(stack, http, agent):
    """Imported contacts, the runner on its schedule, the dial queue, the
    simulated carrier's callbacks, a busy contact retried once, and the
    campaign completing with its stats."""
    api, _, _ = stack
    numbers = {"+14155552676": "completed", "+14155550002": "busy", "+14155550001": "invalid",
               "+14155550004": "machine"}
    for phone in numbers:   # contacts reachable around the clock, so the test runs at any hour
        http.post(f"{api}/contacts", json={"phone": phone, "details": {
            "preferredCallTime": {"start": "00:00", "end": "00:00"}}}, timeout=5)
    campaign = http.post(f"{api}/campaigns", timeout=5, json={
        "name": "e2e", "agentId": agent["id"], "config": {
            "maxConcurrentCalls": 2,
            "retryConfig": {"maxAttempts": 2, "delayBetweenAttempts": 0.1, "retryStatuses": ["busy"]},
            "scheduleConfig": {"timeZone": "UTC", "allowedHours": {"start": "00:00", "end": "00:00"},
                               "allowedDays": [0, 1, 2, 3, 4, 5, 6]}}}).json()
    csv = "phone,first name\n" + "\n".join(f"{phone},P{n}" for n, phone in enumerate(numbers)) + "\n"
    report = http.post(f"{api}/campaigns/{campaign['id']}/contacts/import", data=csv.encode(),
                       headers={"content-type": "text/csv"}, timeout=10).json()
    assert report["added"] == 4, report
    assert http.post(f"{api}/campaigns/{campaign['id']}/start", timeout=5).json()["status"] == "active"

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = http.get(f"{api}/campaigns/{campaign['id']}", timeout=5).json()
        if current["status"] == "completed":
            break
        time.sleep(0.5)
    assert current["status"] == "completed", current
    rows = {r["phone"]: r for r in http.get(f"{api}/campaigns/{campaign['id']}/contacts", timeout=5).json()["items"]}
    assert {phone: (r["status"], r["attempts"]) for phone, r in rows.items()} == {
        "+14155552676": ("completed", 1), "+14155550002": ("failed", 2), "+14155550001": ("failed", 1),
        "+14155550004": ("failed", 1)}
    assert [c["failureReason"] for c in rows["+14155550002"]["callResults"]] == ["busy", "busy"]
    assert rows["+14155550004"]["callResults"][0]["failureReason"] == "voicemail"
    stats = current["stats"]
    assert (stats["contactsCompleted"], stats["contactsFailed"], stats["successRate"]) == (1, 3, 25.0)
    call = http.get(f"{api}/calls/{rows['+14155552676']['callResults'][0]['callId']}", timeout=5).json()
    assert call["campaignId"] == campaign["id"] and call["dynamicVariables"] == {"first_name": "P0"}


def test_the_api_refuses_requests_without_the_key(stack):
    api, _, _ = stack
    response = requests.get(f"{api}/calls", timeout=5)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    assert requests.get(f"{api}/health", timeout=5).status_code == 200


def test_fuzzing_the_api_against_its_contract(stack):
    """schemathesis, with a bounded number of examples per operation: no 5xx,
    and every response matches docs/openapi.json. (The carriers' webhooks are
    left out: every unsigned request is refused by design.)"""
    api, _, key = stack
    result = subprocess.run(
        [str(Path(sys.executable).with_name("st")), "run", f"{api}/openapi.json", "--url", api,
         "-H", f"Authorization: Bearer {key}", "-n", "25", "--seed", "1", "-w", "2",
         "-c", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
         "--phases", "examples,fuzzing", "--exclude-path-regex", "^/(webhooks|twiml)/"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def test_ctrl_c_stops_everything(stack):
    api, process, _ = stack
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{api}/health", timeout=2)
