"""Twilio's webhook dialect: the signature check and the status mapping."""
from datetime import datetime, timezone

import pytest
from twilio.request_validator import RequestValidator

from chalicelib.models.call_status import CallStatus, FailureReason, OutboundStatus
from chalicelib.providers.twilio import UnknownCallStatus, parse_status_callback, signature_is_valid

TOKEN = "secret-token"
URL = "https://abc.execute-api.us-east-1.amazonaws.com/api/webhooks/twilio/status/call_1"
PARAMS = {"CallSid": "CA1", "CallStatus": "ringing", "To": "+14155552671", "ForwardedFrom": ""}


def sign(url=URL, params=PARAMS, token=TOKEN):
    return RequestValidator(token).compute_signature(url, params)


def test_valid_signature():
    assert signature_is_valid(TOKEN, URL, PARAMS, sign())


@pytest.mark.parametrize("case", ["wrong token", "tampered", "blank param dropped", "no stage prefix", "missing"])
def test_invalid_signatures(case):
    signature = sign()
    url, params, token = URL, dict(PARAMS), TOKEN
    if case == "wrong token":
        token = "other"
    elif case == "tampered":
        params["CallStatus"] = "completed"
    elif case == "blank param dropped":
        params.pop("ForwardedFrom")
    elif case == "no stage prefix":
        url = URL.replace("/api/", "/")
    elif case == "missing":
        signature = None
    assert not signature_is_valid(token, url, params, signature)


@pytest.mark.parametrize("raw, status, outbound, reason", [
    ("queued", CallStatus.INITIATED, None, None),
    ("initiated", CallStatus.INITIATED, None, None),
    ("ringing", CallStatus.RINGING, OutboundStatus.RINGING, None),
    ("in-progress", CallStatus.IN_PROGRESS, OutboundStatus.CONNECTED, None),
    ("completed", CallStatus.COMPLETED, None, None),
    ("busy", CallStatus.FAILED, OutboundStatus.BUSY, FailureReason.BUSY),
    ("no-answer", CallStatus.FAILED, OutboundStatus.NO_ANSWER, FailureReason.NO_ANSWER),
    ("failed", CallStatus.FAILED, None, FailureReason.NETWORK_ERROR),
    ("canceled", CallStatus.CANCELLED, None, FailureReason.CANCELLED),
])
def test_status_mapping(raw, status, outbound, reason):
    update = parse_status_callback({"CallStatus": raw})
    assert (update.status, update.outbound_status, update.failure_reason) == (status, outbound, reason)


def test_failed_with_unreachable_number_is_invalid_number():
    update = parse_status_callback({"CallStatus": "failed", "SipResponseCode": "404"})
    assert update.failure_reason == FailureReason.INVALID_NUMBER


@pytest.mark.parametrize("answered_by", ["machine_start", "machine_end_beep", "machine_end_silence", "fax"])
def test_answered_by_a_machine_is_voicemail(answered_by):
    update = parse_status_callback({"CallStatus": "in-progress", "AnsweredBy": answered_by})
    assert update.outbound_status == OutboundStatus.VOICEMAIL


def test_completed_carries_duration_price_and_timestamp():
    update = parse_status_callback({"CallStatus": "completed", "CallDuration": "42", "Price": "-0.0130",
                                    "PriceUnit": "USD", "Timestamp": "Tue, 01 Nov 2016 01:59:13 +0000"})
    assert update.duration == 42
    assert update.price == pytest.approx(0.013)
    assert update.timestamp == datetime(2016, 11, 1, 1, 59, 13, tzinfo=timezone.utc)


def test_unknown_status_is_refused():
    with pytest.raises(UnknownCallStatus):
        parse_status_callback({"CallStatus": "exploded"})
