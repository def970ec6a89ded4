"""The carrier simulator, driven through the real twilio-python SDK.

Every status callback and TwiML request the simulator sends lands on a small
in-test HTTP server that checks its X-Twilio-Signature with RequestValidator.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.devstack.simulator import CarrierSimulator, outcome_for  # noqa: E402

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "simulated-auth-token-0123456789ab"
FROM = "+14155550100"
SCALE = 0.02
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hello from the agent</Say></Response>'
SID_RE = re.compile(r"^CA[0-9a-f]{32}$")


class RewritingHttpClient(TwilioHttpClient):
    """Send the SDK's https://api.twilio.com requests to the simulator."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        if url.startswith("https://api.twilio.com"):
            url = self.base_url + url[len("https://api.twilio.com"):]
        return super().request(method, url, *args, **kwargs)


class Receiver:
    """Collects webhooks; verifies each one's signature against the exact URL."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        validator = RequestValidator(AUTH_TOKEN)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                url = f"http://127.0.0.1:{receiver.port}{self.path}"
                if method == "POST":
                    params = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
                    signed = validator.validate(url, params, self.headers.get("X-Twilio-Signature", ""))
                else:
                    params = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                    signed = validator.validate(url, {}, self.headers.get("X-Twilio-Signature", ""))
                path = urlsplit(self.path).path
                with receiver.lock:
                    receiver.requests.append({
                        "method": method, "path": path, "url": url, "params": params,
                        "valid": signed, "content_type": self.headers.get("Content-Type"),
                    })
                if path == "/twiml":
                    data, ctype = TWIML.encode(), "text/xml"
                else:
                    data, ctype = b"", "text/plain"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                self._handle("POST")

            def do_GET(self):
                self._handle("GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def for_call(self, sid: str, path: str | None = None) -> list[dict]:
        with self.lock:
            return [r for r in self.requests
                    if r["params"].get("CallSid") == sid and (path is None or r["path"] == path)]

    def statuses(self, sid: str) -> list[dict]:
        return self.for_call(sid, "/status")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def sim():
    s = CarrierSimulator(ACCOUNT_SID, AUTH_TOKEN, time_scale=SCALE).start()
    yield s
    s.stop()


@pytest.fixture
def client(sim):
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=RewritingHttpClient(sim.base_url))


def place(client, receiver, to, **overrides):
    kwargs = dict(
        to=to,
        from_=FROM,
        url=f"{receiver.base}/twiml",
        status_callback=f"{receiver.base}/status?tenant=acme&n=1",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        status_callback_method="POST",
        machine_detection="Enable",
        timeout=30,
        time_limit=600,
    )
    kwargs.update(overrides)
    return client.calls.create(**{k: v for k, v in kwargs.items() if v is not None})


def wait_status(client, sid, status, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        call = client.calls(sid).fetch()
        if call.status == status:
            return call
        time.sleep(0.01)
    raise AssertionError(f"{sid} never reached {status}")


def assert_all_signed(receiver, sid):
    reqs = receiver.for_call(sid)
    assert reqs, "no webhooks received"
    for r in reqs:
        assert r["valid"], f"bad signature on {r['path']}: {r['params']}"
        assert r["content_type"] == "application/x-www-form-urlencoded"


def assert_sequence(callbacks):
    assert [c["SequenceNumber"] for c in callbacks] == [str(i) for i in range(len(callbacks))]
    for c in callbacks:
        assert c["CallbackSource"] == "call-progress-events"
        assert c["ApiVersion"] == "2010-04-01"
        assert c["AccountSid"] == ACCOUNT_SID
        assert c["Direction"] == "outbound-api"
        assert c["From"] == c["Caller"] == FROM
        assert c["To"] == c["Called"]
        assert re.match(r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$", c["Timestamp"])


def test_outcome_rule():
    assert outcome_for("+1 (415) 555-0002") == "busy"
    assert outcome_for("+14155550006") == "long"
    assert outcome_for("+14155551234") == "human"
    assert outcome_for("client:alice") == "human"


def test_human_call_completes(sim, client, receiver):
    to = "+14155551234"
    created = place(client, receiver, to)
    assert SID_RE.match(created.sid)
    assert created.status == "queued"
    assert created.to == to and created._from == FROM
    assert created.account_sid == ACCOUNT_SID
    assert created.direction == "outbound-api"
    assert created.api_version == "2010-04-01"
    assert created.price_unit == "USD"
    assert created.start_time is None and created.duration is None and created.price is None
    assert created.answered_by is None
    assert isinstance(created.date_created, datetime)
    assert created.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{created.sid}.json"

    record = sim.wait_for_call(created.sid)
    callbacks = [r["params"] for r in receiver.statuses(created.sid)]
    assert [c["CallStatus"] for c in callbacks] == ["initiated", "ringing", "in-progress", "completed"]
    assert_sequence(callbacks)
    assert_all_signed(receiver, created.sid)
    final = callbacks[-1]
    assert final["CallDuration"] == "4"
    assert final["Duration"] == "1"
    assert final["SipResponseCode"] == "200"
    assert final["AnsweredBy"] == "human"
    assert callbacks[2]["AnsweredBy"] == "human"
    assert "AnsweredBy" not in callbacks[0] and "CallDuration" not in callbacks[1]

    twiml_reqs = receiver.for_call(created.sid, "/twiml")
    assert len(twiml_reqs) == 1
    assert twiml_reqs[0]["params"]["AnsweredBy"] == "human"
    assert twiml_reqs[0]["params"]["CallStatus"] == "in-progress"
    assert record["twiml"] == TWIML
    assert record["outcome"] == "human"
    assert [c["event"] for c in record["callbacks"]] == ["initiated", "ringing", "answered", "completed"]
    assert all(c["status_code"] == 200 and c["error"] is None for c in record["callbacks"])
    assert record["params"]["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert record["params"]["MachineDetection"] == "Enable"

    fetched = client.calls(created.sid).fetch()
    assert fetched.status == "completed"
    assert fetched.duration == "4"
    assert fetched.answered_by == "human"
    assert isinstance(fetched.start_time, datetime) and isinstance(fetched.end_time, datetime)
    assert fetched.start_time.tzinfo is not None
    assert fetched.price is not None


@pytest.mark.parametrize("to, final, sip, saw_ringing", [
    ("+14155550002", "busy", "486", True),
    ("+14155550003", "no-answer", "487", True),
    ("+14155550005", "failed", "500", False),
])
def test_unanswered_outcomes(sim, client, receiver, to, final, sip, saw_ringing):
    created = place(client, receiver, to)
    record = sim.wait_for_call(created.sid)
    callbacks = [r["params"] for r in receiver.statuses(created.sid)]
    expected = ["initiated", "ringing", final] if saw_ringing else ["initiated", final]
    assert [c["CallStatus"] for c in callbacks] == expected
    assert_sequence(callbacks)
    assert_all_signed(receiver, created.sid)
    assert callbacks[-1]["SipResponseCode"] == sip
    assert callbacks[-1]["CallDuration"] == "0"
    assert all("AnsweredBy" not in c for c in callbacks)
    assert receiver.for_call(created.sid, "/twiml") == []
    assert record["twiml"] is None
    fetched = client.calls(created.sid).fetch()
    assert fetched.status == final
    assert fetched.duration is None and fetched.answered_by is None


def test_machine_answers(sim, client, receiver):
    created = place(client, receiver, "+14155550004")
    record = sim.wait_for_call(created.sid)
    callbacks = [r["params"] for r in receiver.statuses(created.sid)]
    assert [c["CallStatus"] for c in callbacks] == ["initiated", "ringing", "in-progress", "completed"]
    assert callbacks[-1]["AnsweredBy"] == "machine_end_beep"
    assert int(callbacks[-1]["CallDuration"]) > 0
    twiml_reqs = receiver.for_call(created.sid, "/twiml")
    assert [r["params"]["AnsweredBy"] for r in twiml_reqs] == ["machine_end_beep"]
    assert_all_signed(receiver, created.sid)
    assert record["twiml"] == TWIML
    assert client.calls(created.sid).fetch().answered_by == "machine_end_beep"


def test_only_requested_events_are_sent(sim, client, receiver):
    created = place(client, receiver, "+14155557777", status_callback_event=["completed"],
                    machine_detection=None)
    sim.wait_for_call(created.sid)
    callbacks = [r["params"] for r in receiver.statuses(created.sid)]
    assert [c["CallStatus"] for c in callbacks] == ["completed"]
    assert callbacks[0]["SequenceNumber"] == "0"
    assert "AnsweredBy" not in callbacks[0]  # no MachineDetection requested
    assert "AnsweredBy" not in receiver.for_call(created.sid, "/twiml")[0]["params"]


def test_invalid_number_rejected_at_create(sim, client, receiver):
    with pytest.raises(TwilioRestException) as info:
        place(client, receiver, "+14155550001")
    assert info.value.status == 400
    assert info.value.code == 21211
    assert sim.calls() == []


def test_carrier_unavailable(sim, client, receiver):
    with pytest.raises(TwilioRestException) as info:
        place(client, receiver, "+14155550009")
    assert info.value.status == 503
    assert info.value.code == 20500
    assert sim.calls() == []


def test_cancel_while_ringing(sim, client, receiver):
    created = place(client, receiver, "+14155550003", timeout=60)  # rings ~1.2 s
    wait_status(client, created.sid, "ringing")
    updated = client.calls(created.sid).update(status="canceled")
    assert updated.status == "canceled"
    record = sim.wait_for_call(created.sid)
    assert record["status"] == "canceled"
    callbacks = [r["params"] for r in receiver.statuses(created.sid)]
    assert [c["CallStatus"] for c in callbacks] == ["initiated", "ringing", "canceled"]
    assert callbacks[-1]["CallDuration"] == "0"
    assert_all_signed(receiver, created.sid)
    # an ended call cannot be updated
    with pytest.raises(TwilioRestException) as info:
        client.calls(created.sid).update(status="completed")
    assert info.value.status == 400 and info.value.code == 21220


def test_hang_up_long_call(sim, client, receiver):
    created = place(client, receiver, "+14155550006")
    wait_status(client, created.sid, "in-progress")
    # canceled has no effect once answered (as on Twilio)
    assert client.calls(created.sid).update(status="canceled").status == "in-progress"
    time.sleep(0.1)
    updated = client.calls(created.sid).update(status="completed")
    assert updated.status == "completed"
    record = sim.wait_for_call(created.sid)
    callbacks = [r["params"] for r in receiver.statuses(created.sid)]
    assert [c["CallStatus"] for c in callbacks] == ["initiated", "ringing", "in-progress", "completed"]
    seconds = int(callbacks[-1]["CallDuration"])
    assert 0 < seconds < 60
    assert record["duration"] == seconds and updated.duration == str(seconds)
    assert record["ended_by"] == "api-hangup"
    assert_all_signed(receiver, created.sid)


def test_list_and_fetch(sim, client, receiver):
    before = datetime.now(timezone.utc) - timedelta(minutes=1)
    a = place(client, receiver, "+14155552001")
    b = place(client, receiver, "+14155552002")
    sim.wait_for_call(a.sid)
    sim.wait_for_call(b.sid)

    found = client.calls.list(to="+14155552001", start_time_after=before)
    assert [c.sid for c in found] == [a.sid]
    assert found[0].status == "completed"
    assert client.calls.list(to="+14155552001", start_time_after=before + timedelta(hours=1)) == []
    assert client.calls.list(to="+14155552001", start_time_before=before) == []
    assert [c.sid for c in client.calls.list(status="completed", from_=FROM)] == [b.sid, a.sid]
    # paging: one record per page, the SDK follows next_page_uri
    assert [c.sid for c in client.calls.list(page_size=1)] == [b.sid, a.sid]

    fetched = client.calls(b.sid).fetch()
    assert fetched.sid == b.sid and fetched.to == "+14155552002"
    with pytest.raises(TwilioRestException) as info:
        client.calls("CA" + "f" * 32).fetch()
    assert info.value.status == 404 and info.value.code == 20404


def test_bad_auth(sim, receiver):
    bad = Client(ACCOUNT_SID, "wrong-token", http_client=RewritingHttpClient(sim.base_url))
    with pytest.raises(TwilioRestException) as info:
        place(bad, receiver, "+14155551234")
    assert info.value.status == 401 and info.value.code == 20003
    resp = requests.get(f"{sim.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json")
    assert resp.status_code == 401 and resp.json()["code"] == 20003
    assert sim.calls() == []


def test_missing_params_and_bad_requests(sim):
    url = f"{sim.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    auth = (ACCOUNT_SID, AUTH_TOKEN)
    resp = requests.post(url, data={"From": FROM, "Url": "http://x/"}, auth=auth)
    assert resp.status_code == 400 and resp.json()["code"] == 21201
    resp = requests.post(url, data={"To": "+14155551234", "From": FROM}, auth=auth)
    assert resp.status_code == 400 and set(resp.json()) >= {"code", "message", "more_info", "status"}
    resp = requests.post(url, data=b"\xff\xfe garbage", auth=auth)
    assert resp.status_code == 400
    other = url.replace(ACCOUNT_SID, "AC" + "1" * 32)
    assert requests.get(other, auth=auth).status_code == 404
    assert requests.get(f"{sim.base_url}/nope", auth=auth).status_code == 404
    assert requests.get(url, params={"StartTime>": "not-a-date"}, auth=auth).status_code == 400


def test_callback_delivery_errors_are_recorded(sim, client, receiver):
    dead = "http://127.0.0.1:9/status"  # discard port: connection refused
    created = place(client, receiver, "+14155550002", status_callback=dead)
    record = sim.wait_for_call(created.sid, timeout=10)
    assert record["status"] == "busy"
    assert record["callbacks"] and all(c["status_code"] is None for c in record["callbacks"])
    assert all(c["error"] and c["attempts"] == 2 for c in record["callbacks"])


def test_introspection_and_reset(sim, client, receiver):
    created = place(client, receiver, "+14155550006")
    wait_status(client, created.sid, "in-progress")
    calls = requests.get(f"{sim.base_url}/_sim/calls").json()
    assert [c["sid"] for c in calls] == [created.sid]
    assert calls[0]["outcome"] == "long" and calls[0]["params"]["To"] == "+14155550006"
    assert requests.post(f"{sim.base_url}/_sim/reset").status_code == 200
    assert sim.calls() == []
    assert requests.get(f"{sim.base_url}/_sim/calls").json() == []


def test_cli_starts_and_stops():
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.devstack.simulator", "--port", "0",
         "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN, "--time-scale", "0.02"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = proc.stdout.readline().strip()
        m = re.fullmatch(r"simulator listening on (http://127\.0\.0\.1:\d+)", line)
        assert m, line
        assert requests.get(f"{m.group(1)}/_sim/health").json()["ok"] is True
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
