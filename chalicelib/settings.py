"""One settings object, read from the environment.

Read lazily through `get_settings()`: on Lambda (and in `chalice.test.Client`)
the stage's environment is only in place while a handler runs, so nothing may
read configuration at import time.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(RuntimeError):
    """A required setting is missing or invalid; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    mongodb_uri: str
    mongodb_db: str = "outdial"
    mongodb_max_pool_size: int = Field(5, ge=1, le=100)
    mongodb_server_selection_timeout_ms: int = Field(5000, ge=100)

    # The public URL API Gateway serves us at, including its stage prefix
    # (e.g. https://abc.execute-api.eu-west-1.amazonaws.com/api). Provider
    # callback URLs are built from it, and signatures are checked against it.
    public_base_url: str | None = None

    # The carrier used when neither the agent nor the call names one.
    telephony_provider: Literal["simulated", "twilio", "exotel", "elevenlabs"] = "simulated"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    # Where the local carrier simulator listens (TELEPHONY_PROVIDER=simulated).
    simulator_url: str | None = None

    # ElevenLabs: the conversational agents, and a dialing mode of its own
    # (its Twilio outbound-call API, for numbers imported into ElevenLabs).
    elevenlabs_api_key: str | None = None
    elevenlabs_webhook_secret: str | None = None       # HMAC secret of the post-call webhook
    elevenlabs_base_url: str = "https://api.elevenlabs.io"
    elevenlabs_phone_number_id: str | None = None      # default agent_phone_number_id (ElevenLabs dialing)
    elevenlabs_webhook_tolerance_seconds: int = Field(1800, ge=30, le=86400)

    # Exotel (Calls connect API). Exotel does not sign callbacks: its webhook
    # route carries this unguessable token in the path instead.
    exotel_account_sid: str | None = None
    exotel_api_key: str | None = None
    exotel_api_token: str | None = None
    exotel_base_url: str = "https://api.exotel.com"
    exotel_webhook_token: str | None = Field(None, min_length=16)
    exotel_flow_url: str | None = None     # the Exotel flow (with a voicebot applet) the answered call runs

    # Where conversation audio is kept (post_call_audio). AWS_ENDPOINT_URL_S3
    # points boto3 at moto locally.
    recordings_bucket: str | None = None
    # Ask Twilio to record calls and report recordings to us.
    record_calls: bool = True

    dial_queue_url: str | None = None
    dial_lease_seconds: int = Field(60, ge=5)

    default_region: str = Field("US", min_length=2, max_length=2)

    # The account's calls-per-second limit at the carrier (Twilio's default is
    # 1 CPS per account), enforced by every dialer together through MongoDB.
    account_cps: int = Field(1, ge=1, le=1000)

    # How far ahead each scheduler run dispatches (with SQS delays): two runs'
    # worth by default. 0 is plain polling: only what is already due, late by
    # up to a minute (kept for comparison in scripts/bench.py).
    scheduler_lookahead_seconds: int = Field(120, ge=0, le=900)

    # Google Sheets (campaign sheetIntegration): a service account's JSON key,
    # inline or as a file path; the sheet must be shared with its email.
    # SHEETS_API_URL points at the local fake (scripts/devstack/fake_sheets.py).
    google_service_account_json: str | None = None
    google_service_account_file: str | None = None
    sheets_api_url: str = "https://sheets.googleapis.com"

    def google_service_account(self) -> dict:
        """The service account's key, or ConfigurationError naming what is missing."""
        import json

        try:
            if self.google_service_account_json:
                return json.loads(self.google_service_account_json)
            if self.google_service_account_file:
                with open(self.google_service_account_file, encoding="utf-8") as key_file:
                    return json.load(key_file)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"the Google service account key cannot be read: {type(exc).__name__}") from None
        raise ConfigurationError("Google Sheets needs GOOGLE_SERVICE_ACCOUNT_JSON or GOOGLE_SERVICE_ACCOUNT_FILE")

    # Retention (seed 000: keep 6 months, archive to cold storage). Calls,
    # transcripts and recordings metadata older than RETENTION_DAYS are
    # exported to ARCHIVE_BUCKET and then deleted. call_events also expire
    # through a TTL index after CALL_EVENTS_TTL_DAYS (seed 002: 90), so they
    # are archived a week before that (or at RETENTION_DAYS if sooner).
    retention_days: int = Field(180, ge=1)
    call_events_ttl_days: int = Field(90, ge=8)
    archive_bucket: str | None = None
    archive_chunk_size: int = Field(5000, ge=1, le=100_000)
    # A run stops starting new chunks after this long (the Lambda allows 900 s);
    # the next run resumes where it stopped.
    archive_time_budget_seconds: int = Field(600, ge=1)

    def check_app(self) -> "Settings":
        """Fail fast, naming every setting the running app needs but lacks.
        (Tools such as the migration script only need the MongoDB settings.)"""
        needed = ["public_base_url"]
        if self.telephony_provider in ("twilio", "simulated"):
            needed += ["twilio_account_sid", "twilio_auth_token"]
        if self.telephony_provider == "simulated":
            needed.append("simulator_url")
        self._require(needed, f"TELEPHONY_PROVIDER={self.telephony_provider}")
        return self

    def require_for(self, feature: str) -> "Settings":
        """Name what `feature` (a carrier, a webhook, recordings storage) needs
        but lacks; checked when the feature is first used, so a deployment that
        never dials through Exotel needs no Exotel settings."""
        self._require(FEATURE_SETTINGS[feature], feature)
        return self

    def _require(self, needed: list[str], context: str) -> None:
        missing = [name.upper() for name in needed if not getattr(self, name)]
        if missing:
            raise ConfigurationError(f"missing required setting(s) {', '.join(missing)} ({context})")

    @property
    def call_events_retention_days(self) -> int:
        return min(self.retention_days, self.call_events_ttl_days - 7)

    @property
    def base_url(self) -> str:
        return self.public_base_url.rstrip("/")

    def public_url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"


FEATURE_SETTINGS: dict[str, list[str]] = {
    "twilio": ["twilio_account_sid", "twilio_auth_token"],
    "simulated": ["twilio_account_sid", "twilio_auth_token", "simulator_url"],
    "exotel": ["exotel_account_sid", "exotel_api_key", "exotel_api_token", "exotel_webhook_token"],
    "elevenlabs": ["elevenlabs_api_key"],
    "elevenlabs dialing": ["elevenlabs_api_key", "elevenlabs_webhook_secret"],
    "elevenlabs webhook": ["elevenlabs_webhook_secret"],
    "exotel webhook": ["exotel_webhook_token"],
    "recordings storage": ["recordings_bucket"],
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper()
            if error["type"] == "missing":
                problems.append(f"{name} is required")
            elif name:
                problems.append(f"{name}: {error['msg']}")
            else:
                problems.append(error["msg"].removeprefix("Value error, "))
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment)."""
    get_settings.cache_clear()
