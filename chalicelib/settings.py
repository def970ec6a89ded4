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

    telephony_provider: Literal["simulated", "twilio"] = "simulated"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    # Where the local carrier simulator listens (TELEPHONY_PROVIDER=simulated).
    simulator_url: str | None = None

    dial_queue_url: str | None = None
    dial_lease_seconds: int = Field(60, ge=5)

    default_region: str = Field("US", min_length=2, max_length=2)

    # How far ahead each scheduler run dispatches (with SQS delays): two runs'
    # worth by default. 0 is plain polling: only what is already due, late by
    # up to a minute (kept for comparison in scripts/bench.py).
    scheduler_lookahead_seconds: int = Field(120, ge=0, le=900)

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
        needed = ["public_base_url", "twilio_account_sid", "twilio_auth_token"]
        if self.telephony_provider == "simulated":
            needed.append("simulator_url")
        missing = [name.upper() for name in needed if not getattr(self, name)]
        if missing:
            raise ConfigurationError(
                f"missing required setting(s) {', '.join(missing)} "
                f"(TELEPHONY_PROVIDER={self.telephony_provider})"
            )
        return self

    @property
    def call_events_retention_days(self) -> int:
        return min(self.retention_days, self.call_events_ttl_days - 7)

    @property
    def base_url(self) -> str:
        return self.public_base_url.rstrip("/")

    def public_url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"


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
