"""Exotel: the Calls connect API and its status callbacks.

POST {base}/v1/Accounts/{sid}/Calls/connect.json (HTTP basic auth with the API
key and token) dials `From` first; with `Url` set to an Exotel flow (whose
voicebot applet streams to the agent) the answered call runs that flow.
https://developer.exotel.com/docs/voice-v1/api-reference/connect-two-numbers

StatusCallback posts CallSid, Status (completed | failed | busy | no-answer),
RecordingUrl, DateUpdated, and with StatusCallbackEvents `terminal`/`answered`
also EventType, ConversationDuration, StartTime, EndTime, To, From, ...
https://developer.exotel.com/docs/voice-v1/api-reference/status-callback
Exotel does not sign callbacks: our route carries an unguessable token.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from ..models.call_status import CallStatus, FailureReason, OutboundStatus
from .base import (CannotCancel, DialRequest, DialResult, InvalidNumber, OutcomeUnknown, ProviderError,
                   ProviderRejected, ProviderUnavailable, RateLimited)
from .twilio import StatusUpdate, UnknownCallStatus

REQUEST_TIMEOUT_SECONDS = 10


class ExotelProvider:
    name = "exotel"

    def __init__(self, *, account_sid: str, api_key: str, api_token: str, base_url: str = "https://api.exotel.com",
                 flow_url: str | None = None, timeout: float = REQUEST_TIMEOUT_SECONDS):
        self._account_sid = account_sid
        self._auth = (api_key, api_token)
        self._base_url = base_url.rstrip("/")
        self._flow_url = flow_url
        self._timeout = timeout
        self._session = None

    def place_call(self, request: DialRequest) -> DialResult:
        form: list[tuple[str, Any]] = [
            ("From", request.to),          # the person is dialed first; the flow then talks to them
            ("CallerId", request.from_),   # our ExoPhone
            ("TimeLimit", request.time_limit_seconds),
            ("TimeOut", request.ring_timeout_seconds),
            ("StatusCallback", request.status_callback_url),
            ("StatusCallbackEvents[0]", "terminal"),
            ("StatusCallbackEvents[1]", "answered"),
            ("CustomField", request.call_id),
        ]
        if self._flow_url:
            form.append(("Url", self._flow_url))
        else:
            form.append(("To", request.to))
        if request.recording_callback_url:
            form.append(("Record", "true"))
        body = self._post(f"/v1/Accounts/{self._account_sid}/Calls/connect.json", form)
        try:
            return DialResult(provider_call_sid=body["Call"]["Sid"])
        except (KeyError, TypeError):
            raise ProviderUnavailable(f"unexpected Exotel answer: {str(body)[:200]}") from None

    def cancel_call(self, provider_call_sid: str) -> None:
        raise CannotCancel("Exotel offers no API to end a call placed with Calls/connect")

    def find_calls(self, *, to: str, from_: str, since: datetime) -> list[str]:
        return []   # a dial whose outcome is unknown cannot be adopted; see the README

    def _post(self, path: str, form: list[tuple[str, Any]]) -> dict:
        import requests
        from requests import exceptions as http

        if self._session is None:
            self._session = requests.Session()
        try:
            response = self._session.post(self._base_url + path, data=form, auth=self._auth,
                                          headers={"Accept": "application/json"}, timeout=self._timeout)
        except http.ConnectTimeout as exc:
            raise ProviderUnavailable(f"cannot reach Exotel: {exc}") from exc
        except (http.ConnectionError, http.Timeout) as exc:
            raise OutcomeUnknown(f"no response from Exotel: {exc}") from exc
        if response.status_code >= 400:
            raise _classify(response)
        return response.json()


def _classify(response) -> ProviderError:
    try:
        exception = response.json().get("RestException", {})
    except ValueError:
        exception = {}
    message = f"Exotel {response.status_code}: {exception.get('Message') or response.text[:200]}"
    status = response.status_code
    if status == 429:
        return RateLimited(message, code=status)
    if status >= 500 or status in (401, 403):
        return ProviderUnavailable(message, code=status)
    if "number" in message.lower() and status == 400:
        return InvalidNumber(message, code=status)
    return ProviderRejected(message, code=status)


def parse_status_callback(params: Mapping[str, Any]) -> StatusUpdate:
    """An Exotel status callback in our vocabulary. `answered` events carry
    Status in-progress; the terminal event one of the four final statuses."""
    raw = str(params.get("Status") or "")
    common: dict[str, Any] = {"provider_status": raw, "duration": _int(params.get("ConversationDuration"))}
    match raw:
        case "in-progress":
            return StatusUpdate(status=CallStatus.IN_PROGRESS, outbound_status=OutboundStatus.CONNECTED, **common)
        case "completed":
            return StatusUpdate(status=CallStatus.COMPLETED, outbound_status=OutboundStatus.CONNECTED, **common)
        case "busy":
            return StatusUpdate(status=CallStatus.FAILED, outbound_status=OutboundStatus.BUSY,
                                failure_reason=FailureReason.BUSY, **common)
        case "no-answer":
            return StatusUpdate(status=CallStatus.FAILED, outbound_status=OutboundStatus.NO_ANSWER,
                                failure_reason=FailureReason.NO_ANSWER, **common)
        case "failed":
            return StatusUpdate(status=CallStatus.FAILED, failure_reason=FailureReason.NETWORK_ERROR, **common)
    raise UnknownCallStatus(f"unknown Exotel Status {raw!r}")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
