"""Carrier webhooks. Each request is verified against the exact public URL
the carrier was given (built from PUBLIC_BASE_URL, never from the incoming
request) before anything is read from it."""
from __future__ import annotations

import hmac
import json

from chalice import Blueprint, Response

from .. import clock
from ..container import get_container
from ..errors import BadRequest, InvalidSignature, PayloadTooLarge, UnverifiedWebhook
from ..providers import elevenlabs
from ..providers.twilio import parse_recording_callback, signature_is_valid
from .http import FormParams, api_errors, json_response, parse_form

bp = Blueprint(__name__)
FORM = ["application/x-www-form-urlencoded"]
JSON = ["application/json"]
# post_call_audio carries the whole conversation's audio, base64-encoded.
MAX_WEBHOOK_BYTES = 20 * 1024 * 1024


def _verified_twilio_form(path: str) -> FormParams:
    request = bp.current_request
    params = parse_form(request)
    settings = get_container().settings
    url = settings.public_url(path)
    if not signature_is_valid(settings.twilio_auth_token, url, params, request.headers.get("x-twilio-signature")):
        raise InvalidSignature("X-Twilio-Signature does not match this request")
    return params


@bp.route("/webhooks/twilio/status/{call_id}", methods=["POST"], content_types=FORM)
@api_errors
def twilio_status(call_id):
    params = _verified_twilio_form(f"webhooks/twilio/status/{call_id}")
    call = get_container().call_progress.apply_twilio_status(call_id, params, raw=params.payload())
    return json_response({"callId": call.id, "status": call.status})


@bp.route("/webhooks/twilio/status", methods=["POST"], content_types=FORM)
@api_errors
def twilio_status_by_sid():
    """For status callbacks configured outside our dialer (e.g. on a number
    in the Twilio console): the call is found by its CallSid."""
    params = _verified_twilio_form("webhooks/twilio/status")
    call = get_container().call_progress.apply_twilio_status_by_sid(params, raw=params.payload())
    return json_response({"callId": call.id, "status": call.status})


@bp.route("/twiml/{call_id}", methods=["POST"], content_types=FORM)
@api_errors
def twiml(call_id):
    params = _verified_twilio_form(f"twiml/{call_id}")
    xml = get_container().call_progress.answer(call_id, params)
    return Response(body=xml, status_code=200, headers={"Content-Type": "application/xml"})


@bp.route("/webhooks/twilio/recording/{call_id}", methods=["POST"], content_types=FORM)
@api_errors
def twilio_recording(call_id):
    """Twilio recording status callback (RecordingSid, RecordingUrl, RecordingStatus, RecordingDuration, ...)."""
    params = _verified_twilio_form(f"webhooks/twilio/recording/{call_id}")
    container = get_container()
    call = container.calls.get(call_id)
    source = call.provider if call and call.provider in ("twilio", "simulated") else "twilio"
    recording = container.conversation.apply_recording(call_id, parse_recording_callback(params), source=source,
                                                       raw=params.payload())
    return json_response({"callId": call_id, "recordingSid": recording.recording_sid, "status": recording.status})


@bp.route("/webhooks/exotel/{token}/status/{call_id}", methods=["POST"], content_types=FORM + JSON)
@api_errors
def exotel_status(token, call_id):
    """Exotel does not sign its callbacks: the path carries the deployment's
    unguessable EXOTEL_WEBHOOK_TOKEN (optionally also allow only Exotel's
    published IP ranges in front of the API, see the README)."""
    container = get_container()
    expected = container.settings.require_for("exotel webhook").exotel_webhook_token
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise InvalidSignature("unknown webhook token")
    request = bp.current_request
    if (request.headers.get("content-type") or "").startswith("application/json"):
        params = _json_object(request.raw_body)
    else:
        params = parse_form(request).payload()
    call = container.call_progress.apply_exotel_status(call_id, params)
    return json_response({"callId": call.id, "status": call.status})


@bp.route("/webhooks/elevenlabs", methods=["POST"], content_types=JSON)
@api_errors
def elevenlabs_webhook():
    """ElevenLabs post-call webhooks: post_call_transcription, post_call_audio,
    call_initiation_failure, signed with ElevenLabs-Signature."""
    request = bp.current_request
    body = request.raw_body or b""
    if len(body) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLarge("webhook body too large")
    container = get_container()
    settings = container.settings.require_for("elevenlabs webhook")
    if not elevenlabs.signature_is_valid(settings.elevenlabs_webhook_secret, request.headers.get("elevenlabs-signature"),
                                         body, now=clock.now(),
                                         tolerance_seconds=settings.elevenlabs_webhook_tolerance_seconds):
        raise UnverifiedWebhook("ElevenLabs-Signature does not match this request, or is too old")
    return json_response(container.conversation.apply_elevenlabs_webhook(_json_object(body)))


def _json_object(raw: bytes | None) -> dict:
    try:
        data = json.loads(raw or b"")
    except (ValueError, RecursionError):
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    return data
