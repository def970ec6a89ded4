"""Twilio: the REST API through the official SDK, and the webhook dialect
(signature check and status mapping). The SDK is imported on first use to keep
it out of every Lambda's cold start."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Mapping

from ..models.call_status import CallStatus, FailureReason, OutboundStatus
from .base import (CannotCancel, DialRequest, DialResult, InvalidNumber, OutcomeUnknown, ProviderError,
                   ProviderRejected, ProviderUnavailable, RateLimited)

STATUS_CALLBACK_EVENTS = ["initiated", "ringing", "answered", "completed"]
RECORDING_CALLBACK_EVENTS = ["completed", "absent"]
# Twilio error codes meaning "this number cannot be called", never worth a retry.
UNDIALABLE_CODES = {21211, 21214, 21215, 21216, 21217, 21612, 13223, 13224}
INVALID_NUMBER_SIP_CODES = {"404", "410", "484", "604"}
REQUEST_TIMEOUT_SECONDS = 10


class TwilioProvider:
    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, *, http_client: Any = None):
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._http_client = http_client
        self._client = None

    def _sdk(self):
        if self._client is None:
            from twilio.http.http_client import TwilioHttpClient
            from twilio.rest import Client

            http_client = self._http_client or TwilioHttpClient(timeout=REQUEST_TIMEOUT_SECONDS)
            self._client = Client(self._account_sid, self._auth_token, http_client=http_client)
        return self._client

    def place_call(self, request: DialRequest) -> DialResult:
        recording: dict[str, Any] = {}
        if request.recording_callback_url:
            recording = {"record": True, "recording_status_callback": request.recording_callback_url,
                         "recording_status_callback_method": "POST",
                         "recording_status_callback_event": RECORDING_CALLBACK_EVENTS}
        call = self._call_api(lambda sdk: sdk.calls.create(
            to=request.to,
            from_=request.from_,
            url=request.answer_url,
            method="POST",
            status_callback=request.status_callback_url,
            status_callback_event=STATUS_CALLBACK_EVENTS,
            status_callback_method="POST",
            # DetectMessageEnd: AnsweredBy arrives after the greeting's beep,
            # the moment a voicemail message should start.
            machine_detection="DetectMessageEnd",
            timeout=request.ring_timeout_seconds,
            time_limit=request.time_limit_seconds,
            **recording,
        ))
        return DialResult(provider_call_sid=call.sid)

    def cancel_call(self, provider_call_sid: str) -> None:
        call = self._call_api(lambda sdk: sdk.calls(provider_call_sid).update(status="canceled"))
        if call.status == "in-progress":
            # Answered in the meantime: Twilio ignores `canceled` on a live
            # call, so hang up rather than leave the person on the line.
            self._call_api(lambda sdk: sdk.calls(provider_call_sid).update(status="completed"))

    def find_calls(self, *, to: str, from_: str, since: datetime) -> list[str]:
        # StartTime is empty until a call is answered, so filter on creation.
        calls = self._call_api(lambda sdk: sdk.calls.list(to=to, from_=from_, limit=50))
        floor = since - timedelta(minutes=1)
        recent = [c for c in calls if c.date_created is None or c.date_created >= floor]
        return [c.sid for c in reversed(recent)]   # Twilio lists newest first

    def _call_api(self, operation):
        from requests import exceptions as http
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            return operation(self._sdk())
        except TwilioRestException as exc:
            raise _classify(exc) from exc
        except TwilioException as exc:  # e.g. calls.list() paging errors carry no status
            raise ProviderUnavailable(f"Twilio error: {exc}") from exc
        except (http.ConnectionError, http.Timeout) as exc:
            if _never_sent(exc):
                raise ProviderUnavailable(f"cannot reach Twilio: {exc}") from exc
            raise OutcomeUnknown(f"no response from Twilio: {exc}") from exc


def _never_sent(exc: Exception) -> bool:
    """True only when the request provably never reached Twilio (no
    connection was made); any later failure leaves the outcome unknown."""
    from requests.exceptions import ConnectTimeout
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def _classify(exc) -> ProviderError:
    code, status = exc.code, exc.status
    message = f"Twilio {status} error {code}: {exc.msg}"
    if code in UNDIALABLE_CODES:
        return InvalidNumber(message, code=code)
    if code == 21220:
        return CannotCancel(message, code=code)
    if status == 429 or code == 20429:
        return RateLimited(message, code=code)
    if status >= 500 or status in (401, 403):
        return ProviderUnavailable(message, code=code)
    return ProviderRejected(message, code=code)


class SimulatedProvider(TwilioProvider):
    """The local default: the same Twilio SDK calls, sent to the carrier
    simulator (scripts/devstack/simulator.py) instead of api.twilio.com."""

    name = "simulated"

    def __init__(self, account_sid: str, auth_token: str, *, simulator_url: str,
                 timeout: float = REQUEST_TIMEOUT_SECONDS):
        super().__init__(account_sid, auth_token, http_client=_rebased_http_client(simulator_url, timeout))


def _rebased_http_client(base_url: str, timeout: float):
    from twilio.http.http_client import TwilioHttpClient

    class RebasedHttpClient(TwilioHttpClient):
        def request(self, method, url, *args, **kwargs):
            url = url.replace("https://api.twilio.com", base_url.rstrip("/"), 1)
            return super().request(method, url, *args, **kwargs)

    return RebasedHttpClient(timeout=timeout)


# ---------------------------------------------------------------- webhooks

def signature_is_valid(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    from twilio.request_validator import RequestValidator

    if not signature:
        return False
    return RequestValidator(auth_token).validate(url, params, signature)


@dataclass(frozen=True)
class StatusUpdate:
    """A carrier's status callback, translated into our vocabulary."""

    provider_status: str
    status: CallStatus
    outbound_status: OutboundStatus | None = None
    failure_reason: FailureReason | None = None
    answered_by: str | None = None
    duration: int | None = None
    price: float | None = None
    price_currency: str | None = None
    timestamp: datetime | None = None


def is_machine(answered_by: str | None) -> bool:
    return bool(answered_by) and (answered_by.startswith("machine") or answered_by == "fax")


class UnknownCallStatus(ValueError):
    pass


def parse_status_callback(params: Mapping[str, str]) -> StatusUpdate:
    raw = params.get("CallStatus", "")
    answered_by = params.get("AnsweredBy") or None
    common: dict[str, Any] = {
        "provider_status": raw,
        "answered_by": answered_by,
        "duration": _int(params.get("CallDuration")),
        "timestamp": _rfc2822(params.get("Timestamp")),
        "price": _float(params.get("Price")),
        "price_currency": params.get("PriceUnit") or None,
    }
    match raw:
        case "queued" | "initiated":
            return StatusUpdate(status=CallStatus.INITIATED, **common)
        case "ringing":
            return StatusUpdate(status=CallStatus.RINGING, outbound_status=OutboundStatus.RINGING, **common)
        case "in-progress":
            outbound = OutboundStatus.VOICEMAIL if is_machine(answered_by) else OutboundStatus.CONNECTED
            return StatusUpdate(status=CallStatus.IN_PROGRESS, outbound_status=outbound, **common)
        case "completed":
            return StatusUpdate(status=CallStatus.COMPLETED, **common)
        case "busy":
            return StatusUpdate(status=CallStatus.FAILED, outbound_status=OutboundStatus.BUSY,
                                failure_reason=FailureReason.BUSY, **common)
        case "no-answer":
            return StatusUpdate(status=CallStatus.FAILED, outbound_status=OutboundStatus.NO_ANSWER,
                                failure_reason=FailureReason.NO_ANSWER, **common)
        case "failed":
            reason = (FailureReason.INVALID_NUMBER if params.get("SipResponseCode") in INVALID_NUMBER_SIP_CODES
                      else FailureReason.NETWORK_ERROR)
            return StatusUpdate(status=CallStatus.FAILED, failure_reason=reason, **common)
        case "canceled":
            return StatusUpdate(status=CallStatus.CANCELLED, failure_reason=FailureReason.CANCELLED, **common)
    raise UnknownCallStatus(f"unknown CallStatus {raw!r}")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return abs(float(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _rfc2822(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else None


@dataclass(frozen=True)
class RecordingUpdate:
    """A recording status callback (RecordingSid, RecordingUrl, RecordingStatus,
    RecordingDuration, RecordingChannels, ...)."""

    recording_sid: str
    call_sid: str | None
    status: str
    url: str | None
    duration: int | None
    channels: int | None


def parse_recording_callback(params: Mapping[str, str]) -> RecordingUpdate:
    return RecordingUpdate(recording_sid=params.get("RecordingSid") or "", call_sid=params.get("CallSid") or None,
                           status=params.get("RecordingStatus") or "unknown",
                           url=params.get("RecordingUrl") or None, duration=_int(params.get("RecordingDuration")),
                           channels=_int(params.get("RecordingChannels")))
