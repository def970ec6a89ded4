"""Carrier webhooks. Each request is verified against the exact public URL
the carrier was given (built from PUBLIC_BASE_URL, never from the incoming
request) before anything is read from it."""
from __future__ import annotations

from chalice import Blueprint, Response

from ..container import get_container
from ..errors import InvalidSignature
from ..providers.twilio import signature_is_valid
from .http import FormParams, api_errors, json_response, parse_form

bp = Blueprint(__name__)
FORM = ["application/x-www-form-urlencoded"]


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
