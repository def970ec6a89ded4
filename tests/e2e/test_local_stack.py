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
    applied = [e["eventType"] for e in call["events"] if e["applied"]]
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
    assert [e["eventType"] for e in call["events"] if e["applied"]] == ["created", "dispatched", "dialed", "ringing",
                                                                       "busy", "retry_scheduled"]
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
