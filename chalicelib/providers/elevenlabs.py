"""ElevenLabs Agents: the conversation on the line, a dialing mode of its own,
and its post-call webhooks.

- `signed_url`: GET /v1/convai/conversation/get-signed-url?agent_id=... gives a
  short-lived wss:// URL for one conversation with a private agent; our TwiML
  streams the answered call's audio to it.
- `ElevenLabsProvider`: POST /v1/convai/twilio/outbound-call, for accounts whose
  Twilio numbers are imported into ElevenLabs (ElevenLabs places the call).
- Post-call webhooks are signed `ElevenLabs-Signature: t=<unix>,v0=<hex>`, an
  HMAC-SHA256 of "<t>.<raw body>" with the webhook's secret.
  https://elevenlabs.io/docs/eleven-agents/workflows/post-call-webhooks
"""
from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from ..signing import timestamped_hmac
from .base import (CannotCancel, Conversation, DialRequest, DialResult, InvalidNumber, OutcomeUnknown,
                   ProviderError, ProviderRejected, ProviderUnavailable, RateLimited)

REQUEST_TIMEOUT_SECONDS = 10
# Our own call id travels with the conversation, so a webhook finds its call
# even when it arrives before we stored the conversation id.
CALL_ID_VARIABLE = "outdial_call_id"


class ElevenLabsClient:
    def __init__(self, api_key: str, *, base_url: str = "https://api.elevenlabs.io",
                 timeout: float = REQUEST_TIMEOUT_SECONDS):
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._session = None

    def signed_url(self, agent_id: str) -> str:
        body = self._request("GET", "/v1/convai/conversation/get-signed-url", params={"agent_id": agent_id})
        return body["signed_url"]

    def outbound_call(self, *, agent_id: str, phone_number_id: str, to: str,
                      client_data: dict[str, Any]) -> tuple[str, str]:
        """(callSid, conversation_id) of the call ElevenLabs placed."""
        body = self._request("POST", "/v1/convai/twilio/outbound-call", json={
            "agent_id": agent_id,
            "agent_phone_number_id": phone_number_id,
            "to_number": to,
            "conversation_initiation_client_data": client_data,
        })
        if not body.get("success") or not body.get("callSid"):
            raise ProviderRejected(f"ElevenLabs did not place the call: {body.get('message')}")
        return body["callSid"], body.get("conversation_id")

    def _request(self, method: str, path: str, **kwargs) -> dict:
        import requests
        from requests import exceptions as http

        if self._session is None:
            self._session = requests.Session()
        try:
            response = self._session.request(method, self._base_url + path, timeout=self._timeout,
                                             headers={"xi-api-key": self._api_key}, **kwargs)
        except (http.ConnectionError, http.Timeout) as exc:
            if isinstance(exc, http.ConnectTimeout) or (method == "GET" or _never_connected(exc)):
                raise ProviderUnavailable(f"cannot reach ElevenLabs: {exc}") from exc
            raise OutcomeUnknown(f"no response from ElevenLabs: {exc}") from exc
        if response.status_code >= 400:
            raise _classify(response)
        return response.json()


def _never_connected(exc: Exception) -> bool:
    from urllib3.exceptions import NewConnectionError

    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def _classify(response) -> ProviderError:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text[:200]
    message = f"ElevenLabs {response.status_code}: {detail}"
    status = response.status_code
    if status == 429:
        return RateLimited(message, code=status)
    if status >= 500 or status in (401, 403):
        return ProviderUnavailable(message, code=status)
    if status == 422 and "to_number" in str(detail):
        return InvalidNumber(message, code=status)
    return ProviderRejected(message, code=status)


def client_data(conversation: Conversation, call_id: str) -> dict[str, Any]:
    """conversation_initiation_client_data: the person's dynamic variables and
    the agent's greeting as the first message (the agent must allow that
    override in its security settings)."""
    return {
        "conversation_config_override": {"agent": {"first_message": conversation.first_message}},
        "dynamic_variables": {**conversation.dynamic_variables, CALL_ID_VARIABLE: call_id},
    }


class ElevenLabsProvider:
    """ElevenLabs places the call through the Twilio number imported into it.
    Progress arrives as post-call webhooks, not carrier status callbacks."""

    name = "elevenlabs"

    def __init__(self, client: ElevenLabsClient, *, default_phone_number_id: str | None = None):
        self._client = client
        self._default_phone_number_id = default_phone_number_id

    def place_call(self, request: DialRequest) -> DialResult:
        conversation = request.conversation
        if conversation is None:
            raise ProviderRejected("the agent has no ElevenLabs agent id")
        phone_number_id = conversation.phone_number_id or self._default_phone_number_id
        if not phone_number_id:
            raise ProviderRejected("no ElevenLabs phone number: set the agent's elevenlabs.phoneNumberId "
                                   "or ELEVENLABS_PHONE_NUMBER_ID")
        call_sid, conversation_id = self._client.outbound_call(
            agent_id=conversation.elevenlabs_agent_id, phone_number_id=phone_number_id, to=request.to,
            client_data=client_data(conversation, request.call_id))
        return DialResult(provider_call_sid=call_sid, conversation_id=conversation_id)

    def cancel_call(self, provider_call_sid: str) -> None:
        raise CannotCancel("ElevenLabs offers no API to end an outbound call it placed")

    def find_calls(self, *, to: str, from_: str, since: datetime) -> list[str]:
        # No lookup by number: a dial whose outcome is unknown cannot be
        # adopted, and is retried like a refused one.
        return []


# ---------------------------------------------------------------- webhooks

def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value ElevenLabs sends (also used by the local fake)."""
    return f"t={timestamp},v0={timestamped_hmac(secret, timestamp, body)}"


def signature_is_valid(secret: str, header: str | None, body: bytes, *, now: datetime,
                       tolerance_seconds: int) -> bool:
    """True when `header` signs exactly `body` with `secret`, at a time within
    the tolerance (in either direction) of `now`: an old delivery replayed
    later is refused even with a valid signature."""
    if not header:
        return False
    parts = [part.strip().split("=", 1) for part in header.split(",")]
    values = [(key, value) for key, value in (p for p in parts if len(p) == 2)]
    timestamps = [value for key, value in values if key == "t"]
    signatures = [value for key, value in values if key == "v0"]
    if len(timestamps) != 1 or not signatures or not timestamps[0].isdigit():
        return False
    timestamp = int(timestamps[0])
    if abs(now.timestamp() - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, body, timestamp).split("v0=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
