"""A local fake of the ElevenLabs Agents API, so conversations run with no account.

Endpoints (as documented at https://elevenlabs.io/docs, checked `xi-api-key`):
  GET  /v1/convai/conversation/get-signed-url?agent_id=...  -> {"signed_url": "ws://.../v1/convai/conversation?..."}
  POST /v1/convai/twilio/outbound-call                      -> {"success", "message", "conversation_id", "callSid"}
It then sends the post-call webhooks ElevenLabs sends, signed
`ElevenLabs-Signature: t=<unix>,v0=<hmac-sha256 hex of "t.body">`, to --webhook-url:
  - a conversation (a call streamed to a signed URL, or placed with outbound-call):
    post_call_transcription, then post_call_audio;
  - outbound-call to a number ending 0002 (busy) or 0003 (no-answer): call_initiation_failure.

The carrier simulator reports a <Connect><Stream> as POST /_fake/stream-start and
/_fake/stream-stop (what Twilio's media stream `start`/`stop` messages carry).
Introspection: GET /_fake/conversations, GET /_fake/health.

    python -m scripts.devstack.fake_elevenlabs --port 8022 --api-key K --webhook-secret S --webhook-url URL
"""
from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from chalicelib.providers.elevenlabs import sign

from .fakehttp import FakeApi, HttpError, Request, later

# The first bytes of an MP3 (an ID3 tag header and one frame sync): enough to be "audio".
FAKE_MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(413)
FAILURES = {"0002": "busy", "0003": "no-answer"}


class FakeElevenLabs(FakeApi):
    def __init__(self, *, api_key: str, webhook_secret: str, webhook_url: str | None = None,
                 talk_seconds: float = 1.0, host: str = "127.0.0.1", port: int = 0):
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.talk_seconds = talk_seconds
        self.conversations: dict[str, dict[str, Any]] = {}
        self.deliveries: list[dict[str, Any]] = []
        self._signed: dict[str, str] = {}     # conversation_signature -> agent_id
        self._lock = threading.Lock()
        super().__init__(host=host, port=port)

    # ------------------------------------------------------------ routes

    def _route(self, request: Request) -> tuple[int, Any]:
        if request.path.startswith("/_fake/"):
            return self._fake_route(request)
        if request.headers.get("xi-api-key") != self.api_key:
            raise HttpError(401, {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})
        if request.path == "/v1/convai/conversation/get-signed-url" and request.method == "GET":
            agent_id = (request.query.get("agent_id") or [""])[0]
            if not agent_id:
                raise HttpError(422, {"detail": [{"loc": ["query", "agent_id"], "msg": "field required"}]})
            signature = secrets.token_urlsafe(24)
            with self._lock:
                self._signed[signature] = agent_id
            host = urlsplit(self.base_url).netloc
            return 200, {"signed_url": f"ws://{host}/v1/convai/conversation?agent_id={agent_id}"
                                       f"&conversation_signature={signature}"}
        if request.path == "/v1/convai/twilio/outbound-call" and request.method == "POST":
            return 200, self._outbound_call(request.json() or {})
        raise HttpError(404, {"detail": "Not Found"})

    def _fake_route(self, request: Request) -> tuple[int, Any]:
        if request.path == "/_fake/health":
            return 200, {"ok": True}
        if request.path == "/_fake/conversations":
            with self._lock:
                return 200, list(self.conversations.values())
        if request.path == "/_fake/deliveries":
            with self._lock:
                return 200, list(self.deliveries)
        if request.path == "/_fake/stream-start":
            return 200, self._stream_started(request.json())
        if request.path == "/_fake/stream-stop":
            return 200, self._stream_stopped(request.json())
        raise HttpError(404, {"detail": "Not Found"})

    def _outbound_call(self, body: dict) -> dict:
        missing = [f for f in ("agent_id", "agent_phone_number_id", "to_number") if not body.get(f)]
        if missing:
            raise HttpError(422, {"detail": [{"loc": ["body", f], "msg": "field required"} for f in missing]})
        client_data = body.get("conversation_initiation_client_data") or {}
        conversation = self._new_conversation(body["agent_id"], "CA" + secrets.token_hex(16), client_data,
                                              to=body["to_number"], source="outbound-call")
        failure = FAILURES.get(re.sub(r"\D", "", body["to_number"])[-4:])
        if failure:
            later(0.2, lambda: self._send("call_initiation_failure", self._failure(conversation, failure)))
        else:
            later(self.talk_seconds, lambda: self._finish(conversation))
        return {"success": True, "message": "Success", "conversation_id": conversation["conversation_id"],
                "callSid": conversation["call_sid"]}

    def _stream_started(self, start: dict) -> dict:
        query = parse_qs(urlsplit(start.get("streamUrl") or "").query)
        with self._lock:
            agent_id = self._signed.pop((query.get("conversation_signature") or [""])[0], None)
        agent_id = agent_id or start.get("agentId")   # a carrier's flow configured with the agent (Exotel)
        if agent_id is None:
            raise HttpError(403, {"detail": "invalid or used conversation signature"})
        parameters = dict(start.get("customParameters") or {})
        first_message = parameters.pop("first_message", None)
        client_data = {"dynamic_variables": parameters,
                       "conversation_config_override": {"agent": {"first_message": first_message}}}
        conversation = self._new_conversation(agent_id, start.get("callSid"), client_data, to=None, source="stream")
        return {"conversation_id": conversation["conversation_id"]}

    def _stream_stopped(self, stop: dict) -> dict:
        with self._lock:
            found = [c for c in self.conversations.values() if c["call_sid"] == stop.get("callSid")]
        for conversation in found:
            conversation["duration"] = stop.get("duration") or conversation["duration"]
            later(0.1, lambda c=conversation: self._finish(c))
        return {"stopped": len(found)}

    # ------------------------------------------------------------ conversations

    def _new_conversation(self, agent_id: str, call_sid: str | None, client_data: dict, *, to: str | None,
                          source: str) -> dict:
        conversation = {"conversation_id": "conv_" + secrets.token_hex(12), "agent_id": agent_id,
                        "call_sid": call_sid, "to": to, "source": source, "client_data": client_data,
                        "started": int(time.time()), "duration": 4, "status": "in-progress"}
        with self._lock:
            self.conversations[conversation["conversation_id"]] = conversation
        return conversation

    def _finish(self, conversation: dict) -> None:
        conversation["status"] = "done"
        self._send("post_call_transcription", self._transcription(conversation))
        self._send("post_call_audio", {"agent_id": conversation["agent_id"],
                                       "conversation_id": conversation["conversation_id"],
                                       "full_audio": base64.b64encode(FAKE_MP3).decode()})

    def _transcription(self, conversation: dict) -> dict:
        """Shaped like the documented post_call_transcription data."""
        client_data = conversation["client_data"]
        first = ((client_data.get("conversation_config_override") or {}).get("agent") or {}).get("first_message")
        variables = client_data.get("dynamic_variables") or {}
        name = variables.get("name") or variables.get("first_name") or "there"
        duration = int(conversation["duration"] or 4)
        turn = {"tool_calls": None, "tool_results": None, "feedback": None, "conversation_turn_metrics": None}
        return {
            "agent_id": conversation["agent_id"],
            "conversation_id": conversation["conversation_id"],
            "status": "done",
            "transcript": [
                {"role": "agent", "message": first or f"Hello {name}!", "time_in_call_secs": 0, **turn},
                {"role": "user", "message": "Hi, yes, this is a good time.", "time_in_call_secs": 2, **turn},
                {"role": "agent", "message": "Great, you're confirmed. Goodbye!", "time_in_call_secs": 3, **turn},
            ],
            "metadata": {
                "start_time_unix_secs": conversation["started"], "call_duration_secs": duration, "cost": 120,
                "termination_reason": "Call ended by remote party",
                "phone_call": {"direction": "outbound", "type": "twilio", "call_sid": conversation["call_sid"],
                               "external_number": conversation["to"]},
            },
            "analysis": {
                "evaluation_criteria_results": {"confirmed": {
                    "criteria_id": "confirmed", "result": "success",
                    "rationale": "The user confirmed the appointment."}},
                "data_collection_results": {"confirmed": {
                    "data_collection_id": "confirmed", "value": True, "json_schema": {"type": "boolean"},
                    "rationale": "The user said yes."}},
                "call_successful": "success",
                "transcript_summary": f"The agent called {name}, who confirmed.",
            },
            "conversation_initiation_client_data": client_data,
        }

    def _failure(self, conversation: dict, reason: str) -> dict:
        conversation["status"] = "failed"
        return {"agent_id": conversation["agent_id"], "conversation_id": conversation["conversation_id"],
                "failure_reason": reason, "metadata": {"type": "twilio", "body": {
                    "CallSid": conversation["call_sid"], "CallStatus": reason, "To": conversation["to"],
                    "Direction": "outbound-api", "CallDuration": "0"}}}

    def _send(self, kind: str, data: dict) -> None:
        if not self.webhook_url:
            return
        body = json.dumps({"type": kind, "event_timestamp": int(time.time()), "data": data}).encode()
        entry: dict[str, Any] = {"type": kind, "conversation_id": data.get("conversation_id")}
        try:
            response = requests.post(self.webhook_url, data=body, timeout=15, headers={
                "Content-Type": "application/json", "ElevenLabs-Signature": sign(self.webhook_secret, body, int(time.time()))})
            entry["status_code"] = response.status_code
        except requests.RequestException as exc:
            entry["error"] = str(exc)
        with self._lock:
            self.deliveries.append(entry)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8022)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--webhook-secret", required=True)
    parser.add_argument("--webhook-url")
    parser.add_argument("--talk-seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    fake = FakeElevenLabs(api_key=args.api_key, webhook_secret=args.webhook_secret, webhook_url=args.webhook_url,
                          talk_seconds=args.talk_seconds, host=args.host, port=args.port).start()
    print(f"fake ElevenLabs listening on {fake.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
