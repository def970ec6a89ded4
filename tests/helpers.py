"""Test doubles and helpers. The fake carrier lives here, in tests only."""
from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from chalicelib.providers.base import DialRequest, DialResult, ProviderError

from .conftest import AUTH_TOKEN, PUBLIC_BASE_URL

JSON = {"content-type": "application/json"}


class FakeProvider:
    """Records what the dialer asks of a carrier; can be told to fail."""

    name = "simulated"

    def __init__(self):
        self.placed: list[DialRequest] = []
        self.cancelled: list[str] = []
        self.calls_by_number: dict[str, list[str]] = {}
        self.error: ProviderError | None = None
        self.place_even_if_error = False   # the carrier took the call but the answer was lost
        self.on_place = None

    def place_call(self, request: DialRequest) -> DialResult:
        if self.on_place:
            self.on_place(request)
        sid = f"CA{len(self.placed) + 1:032x}"
        if self.error is None or self.place_even_if_error:
            self.placed.append(request)
            self.calls_by_number.setdefault(request.to, []).append(sid)
        if self.error is not None:
            raise self.error
        return DialResult(provider_call_sid=sid)

    def cancel_call(self, provider_call_sid: str) -> None:
        self.cancelled.append(provider_call_sid)

    def find_calls(self, *, to: str, from_: str, since: datetime) -> list[str]:
        return list(self.calls_by_number.get(to, []))


def post_json(client, path, body, headers=None):
    return client.http.post(path, headers={**JSON, **(headers or {})}, body=json.dumps(body))


def body(response) -> dict:
    return json.loads(response.body)


def signed_form(path: str, params: dict[str, str], *, token: str = AUTH_TOKEN, url: str | None = None):
    """Headers and body of a form POST signed as Twilio signs it."""
    signature = RequestValidator(token).compute_signature(url or f"{PUBLIC_BASE_URL}/{path}", params)
    return {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature}, urlencode(params)


def twilio_callback(client, call_id: str, status: str, sid: str, **extra: str):
    params = {"AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01", "CallSid": sid, "CallStatus": status,
              "Direction": "outbound-api", "From": "+14155550100", "To": "+14155552671",
              "CallbackSource": "call-progress-events", **extra}
    path = f"webhooks/twilio/status/{call_id}"
    headers, form = signed_form(path, params)
    return client.http.post(f"/{path}", headers=headers, body=form)
