"""A local fake of Exotel's Calls connect API, so the Exotel carrier runs with no account.

  POST /v1/Accounts/{sid}/Calls/connect.json  (HTTP basic auth: API key and token)
       -> {"Call": {"Sid", "Status": "in-progress", ...}}
  https://developer.exotel.com/docs/voice-v1/api-reference/connect-two-numbers

Each call plays a scenario picked by the last four digits of `From` (the number
dialed first, the person): 0001 invalid number (400 at once), 0002 busy,
0003 no-answer, 0005 failed; anything else answers, talks, and completes.
StatusCallback receives JSON for the subscribed StatusCallbackEvents
(`answered`, `terminal`) with CallSid, EventType, Status, DateCreated,
DateUpdated, To, From, PhoneNumberSid, StartTime, EndTime,
ConversationDuration, RecordingUrl, Direction, CustomField and Legs.
https://developer.exotel.com/docs/voice-v1/api-reference/status-callback

With --elevenlabs-url and a flow `Url`, an answered call is handed to the
ElevenLabs fake as the flow's voicebot would (stream start/stop, with
CustomField as the call id).

    python -m scripts.devstack.fake_exotel --port 8023 --account-sid S --api-key K --api-token T
"""
from __future__ import annotations

import argparse
import base64
import re
import secrets
import threading
import time
from datetime import datetime, timezone
from typing import Any

import requests

from .fakehttp import FakeApi, HttpError, Request, later

OUTCOMES = {"0001": "invalid-number", "0002": "busy", "0003": "no-answer", "0005": "failed"}
_CONNECT = re.compile(r"^/v1/Accounts/([^/]+)/Calls/connect(\.json)?$")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


class FakeExotel(FakeApi):
    def __init__(self, *, account_sid: str, api_key: str, api_token: str, elevenlabs_url: str | None = None,
                 time_scale: float = 1.0, host: str = "127.0.0.1", port: int = 0):
        self.account_sid = account_sid
        self._auth = "Basic " + base64.b64encode(f"{api_key}:{api_token}".encode()).decode()
        self.elevenlabs_url = elevenlabs_url
        self.time_scale = time_scale
        self.calls: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        super().__init__(host=host, port=port)

    def _route(self, request: Request) -> tuple[int, Any]:
        if request.path == "/_fake/health":
            return 200, {"ok": True}
        if request.path == "/_fake/calls":
            with self._lock:
                return 200, list(self.calls.values())
        match = _CONNECT.match(request.path)
        if not match or request.method != "POST":
            raise HttpError(404, {"RestException": {"Status": 404, "Message": "Not found"}})
        if request.headers.get("Authorization") != self._auth or match.group(1) != self.account_sid:
            raise HttpError(401, {"RestException": {"Status": 401, "Message": "Authentication is required"}})
        return 200, {"Call": self._connect({k: v[-1] for k, v in request.form().items()})}

    def _connect(self, form: dict[str, str]) -> dict:
        for name in ("From", "CallerId"):
            if not form.get(name):
                raise HttpError(400, {"RestException": {"Status": 400, "Message": f"Missing parameter {name}"}})
        outcome = OUTCOMES.get(re.sub(r"\D", "", form["From"])[-4:], "human")
        if outcome == "invalid-number":
            raise HttpError(400, {"RestException": {"Status": 400, "Message": "Invalid 'From' phone number"}})
        sid = secrets.token_hex(16)
        call = {"Sid": sid, "ParentCallSid": None, "DateCreated": _now(), "DateUpdated": _now(),
                "AccountSid": self.account_sid, "To": form.get("To") or "", "From": form["From"],
                "PhoneNumberSid": form["CallerId"], "Status": "in-progress", "StartTime": _now(), "EndTime": None,
                "Duration": None, "Price": None, "Direction": "outbound-api", "AnsweredBy": None,
                "ForwardedFrom": None, "CallerName": None, "Uri": f"/v1/Accounts/{self.account_sid}/Calls/{sid}.json",
                "RecordingUrl": None}
        with self._lock:
            self.calls[sid] = {**call, "outcome": outcome, "form": form, "callbacks": []}
        later(0.5 * self.time_scale, lambda: self._play(sid))
        return call

    def _play(self, sid: str) -> None:
        call = self.calls[sid]
        form = call["form"]
        if call["outcome"] != "human":
            self._callback(call, "terminal", call["outcome"], duration=0)
            return
        self._callback(call, "answered", "in-progress")
        stream = bool(self.elevenlabs_url and form.get("Url"))
        if stream:
            self._stream(call, "start")
        talk = 3
        time.sleep(talk * self.time_scale)
        recording = (f"{self.base_url}/recordings/{self.account_sid}/{sid}.mp3"
                     if form.get("Record") == "true" else None)
        self._callback(call, "terminal", "completed", duration=talk, recording_url=recording)
        if stream:
            call["duration"] = talk
            self._stream(call, "stop")

    def _callback(self, call: dict, event: str, status: str, *, duration: int | None = None,
                  recording_url: str | None = None) -> None:
        form = call["form"]
        events = [v for k, v in form.items() if k.startswith("StatusCallbackEvents")]
        if not form.get("StatusCallback") or (event == "answered" and "answered" not in events):
            return
        payload = {"CallSid": call["Sid"], "EventType": event, "Status": status, "DateCreated": call["DateCreated"],
                   "DateUpdated": _now(), "To": call["To"], "From": call["From"],
                   "PhoneNumberSid": call["PhoneNumberSid"], "StartTime": call["StartTime"],
                   "EndTime": _now() if event == "terminal" else None,
                   "ConversationDuration": duration if event == "terminal" else 0,
                   "RecordingUrl": recording_url, "Direction": "outbound-api",
                   "CustomField": form.get("CustomField"),
                   "Legs": [{"OnCallDuration": duration or 0, "Status": status}]}
        entry: dict[str, Any] = {"event": event, "Status": status}
        try:
            entry["status_code"] = requests.post(form["StatusCallback"], json=payload, timeout=15).status_code
        except requests.RequestException as exc:
            entry["error"] = str(exc)
        call["callbacks"].append(entry)

    def _stream(self, call: dict, event: str) -> None:
        """What the flow's voicebot applet would do: ask the agent for a
        conversation, carrying our call id."""
        try:
            requests.post(f"{self.elevenlabs_url}/_fake/stream-{event}", timeout=5, json={
                "event": event, "callSid": call["Sid"], "agentId": "agent_in_the_exotel_flow",
                "customParameters": {"outdial_call_id": call["form"].get("CustomField")},
                "duration": call.get("duration")})
        except requests.RequestException:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8023)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--api-token", required=True)
    parser.add_argument("--elevenlabs-url")
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    fake = FakeExotel(account_sid=args.account_sid, api_key=args.api_key, api_token=args.api_token,
                      elevenlabs_url=args.elevenlabs_url, time_scale=args.time_scale, host=args.host,
                      port=args.port).start()
    print(f"fake Exotel listening on {fake.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
