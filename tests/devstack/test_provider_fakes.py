"""Our ElevenLabs and Exotel clients against the local fakes, over real HTTP:
the requests they send, the answers they parse, and the signed webhooks the
fakes send (checked with the app's own verification)."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.providers.base import (Conversation, DialRequest, InvalidNumber, ProviderRejected,
                                       ProviderUnavailable)
from chalicelib.providers.elevenlabs import ElevenLabsClient, ElevenLabsProvider, signature_is_valid
from chalicelib.providers.exotel import ExotelProvider, parse_status_callback
from scripts.devstack.fake_elevenlabs import FakeElevenLabs
from scripts.devstack.fake_exotel import FakeExotel

SECRET = "fake-webhook-secret"


class Receiver:
    """Collects JSON webhooks with their headers."""

    def __init__(self):
        self.received: list[tuple[dict, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, raw))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait(self, count: int, timeout: float = 5.0) -> list[tuple[dict, bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.received)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def request(to="+14155552671", conversation=None, record=True, status_url="http://127.0.0.1:9/status"):
    return DialRequest(call_id="call_1", to=to, from_="+14155550100", answer_url="http://127.0.0.1:9/twiml",
                       status_callback_url=status_url, time_limit_seconds=600,
                       recording_callback_url=status_url if record else None, conversation=conversation)


def test_elevenlabs_signed_url_outbound_call_and_signed_webhooks(receiver):
    fake = FakeElevenLabs(api_key="xi", webhook_secret=SECRET, webhook_url=receiver.url, talk_seconds=0.05).start()
    try:
        client = ElevenLabsClient("xi", base_url=fake.base_url)
        assert "conversation_signature=" in client.signed_url("agent_1")
        with pytest.raises(ProviderUnavailable):
            ElevenLabsClient("wrong", base_url=fake.base_url).signed_url("agent_1")

        provider = ElevenLabsProvider(client, default_phone_number_id="phnum_1")
        result = provider.place_call(request(conversation=Conversation("agent_1", "Hi!", {"name": "Lee"})))
        assert result.provider_call_sid.startswith("CA") and result.conversation_id.startswith("conv_")
        with pytest.raises(ProviderRejected):
            provider.place_call(request())          # no ElevenLabs agent to talk

        (headers, raw), (audio_headers, audio_raw) = receiver.wait(2)
        now = datetime.now(timezone.utc)
        assert signature_is_valid(SECRET, headers["elevenlabs-signature"], raw, now=now, tolerance_seconds=60)
        assert signature_is_valid(SECRET, audio_headers["elevenlabs-signature"], audio_raw, now=now,
                                  tolerance_seconds=60)
        payload = json.loads(raw)
        assert payload["type"] == "post_call_transcription"
        assert payload["data"]["conversation_id"] == result.conversation_id
        assert payload["data"]["conversation_initiation_client_data"]["dynamic_variables"] == {
            "name": "Lee", "outdial_call_id": "call_1"}
        assert json.loads(audio_raw)["type"] == "post_call_audio"

        provider.place_call(request(to="+14155550002", conversation=Conversation("agent_1", "Hi!")))
        failure = json.loads(receiver.wait(3)[2][1])
        assert (failure["type"], failure["data"]["failure_reason"]) == ("call_initiation_failure", "busy")
    finally:
        fake.stop()


def test_exotel_connect_and_status_callbacks(receiver):
    fake = FakeExotel(account_sid="acme", api_key="k", api_token="t", time_scale=0.01).start()
    try:
        provider = ExotelProvider(account_sid="acme", api_key="k", api_token="t", base_url=fake.base_url)
        result = provider.place_call(request(status_url=receiver.url))
        assert len(result.provider_call_sid) == 32
        form = fake.calls[result.provider_call_sid]["form"]
        assert (form["From"], form["CallerId"], form["To"], form["Record"]) == (
            "+14155552671", "+14155550100", "+14155552671", "true")
        assert (form["StatusCallbackEvents[0]"], form["StatusCallbackEvents[1]"]) == ("terminal", "answered")
        answered, terminal = [json.loads(raw) for _, raw in receiver.wait(2)]
        assert (answered["EventType"], answered["Status"]) == ("answered", "in-progress")
        assert (terminal["EventType"], terminal["Status"], terminal["ConversationDuration"]) == ("terminal", "completed", 3)
        assert terminal["RecordingUrl"].endswith(f"{result.provider_call_sid}.mp3")
        assert parse_status_callback(terminal).status == "completed"

        with pytest.raises(InvalidNumber):
            provider.place_call(request(to="+14155550001", status_url=receiver.url))
        with pytest.raises(ProviderUnavailable):
            ExotelProvider(account_sid="acme", api_key="k", api_token="wrong",
                           base_url=fake.base_url).place_call(request(status_url=receiver.url))
    finally:
        fake.stop()
