"""Agents: who is calling (the conversational AI agent) and how it behaves outbound."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import CamelModel, Document, InputModel
from .policy import BusinessHours, RetryPolicy

DEFAULT_GREETING = "Hello! This is {agentName}. How can I help you today?"
DEFAULT_NO_RESPONSE = "Hello? Are you there?"
DEFAULT_GOODBYE = "Thank you for your time. Goodbye!"
DEFAULT_VOICEMAIL = "Hello, this is {agentName} from {company}. Please call us back at {callbackNumber}. Thank you!"


class AgentConfig(CamelModel):
    """Outbound behaviour (seed 000 `Agent.config`). Messages may use the
    placeholders {agentName}, {company} and {callbackNumber}."""

    outbound_greeting: str = Field(DEFAULT_GREETING, max_length=2000)
    outbound_no_response_prompt: str = Field(DEFAULT_NO_RESPONSE, max_length=2000)
    outbound_goodbye_message: str = Field(DEFAULT_GOODBYE, max_length=2000)
    voicemail_message: str = Field(DEFAULT_VOICEMAIL, max_length=2000)
    max_call_duration: int = Field(600, ge=60, le=3600, description="seconds")
    callback_number: str | None = None


class ElevenLabsConfig(CamelModel):
    """The conversational agent that talks on the call."""

    agent_id: str | None = Field(None, max_length=200)
    voice_id: str | None = Field(None, max_length=200)
    # The number imported into ElevenLabs (agent_phone_number_id), for the
    # `elevenlabs` carrier; ELEVENLABS_PHONE_NUMBER_ID when unset.
    phone_number_id: str | None = Field(None, max_length=200)


class Agent(Document):
    name: str
    company: str | None = None
    from_number: str | None = None
    elevenlabs: ElevenLabsConfig = ElevenLabsConfig()
    # Which carrier dials for this agent (a call may name its own); unset: TELEPHONY_PROVIDER.
    carrier: Literal["twilio", "exotel", "elevenlabs"] | None = None
    config: AgentConfig = AgentConfig()
    business_hours: BusinessHours | None = None
    retry_policy: RetryPolicy | None = None


class AgentConfigInput(InputModel):
    # Omitted means "keep" (or the default); null is refused where the agent
    # cannot work without a value, and means "clear" where it can.
    outbound_greeting: str = Field(None, min_length=1, max_length=2000)
    outbound_no_response_prompt: str = Field(None, min_length=1, max_length=2000)
    outbound_goodbye_message: str = Field(None, min_length=1, max_length=2000)
    voicemail_message: str = Field(None, min_length=1, max_length=2000)
    max_call_duration: int = Field(None, ge=60, le=3600, strict=True)
    callback_number: str | None = None


class ElevenLabsInput(InputModel):
    agent_id: str | None = Field(None, min_length=1, max_length=200)
    voice_id: str | None = Field(None, min_length=1, max_length=200)
    phone_number_id: str | None = Field(None, min_length=1, max_length=200)


class AgentCreate(InputModel):
    name: str = Field(min_length=1, max_length=200)
    company: str | None = Field(None, max_length=200)
    from_number: str | None = None
    elevenlabs: ElevenLabsInput | None = None
    carrier: Literal["twilio", "exotel", "elevenlabs"] | None = None
    config: AgentConfigInput | None = None
    business_hours: BusinessHours | None = None
    retry_policy: RetryPolicy | None = None


class AgentUpdate(InputModel):
    name: str = Field(None, min_length=1, max_length=200)
    company: str | None = Field(None, max_length=200)
    from_number: str | None = None
    elevenlabs: ElevenLabsInput | None = None
    carrier: Literal["twilio", "exotel", "elevenlabs"] | None = None
    config: AgentConfigInput | None = None
    # null clears: the system defaults apply again
    business_hours: BusinessHours | None = None
    retry_policy: RetryPolicy | None = None
