"""API keys: who may drive the API, and with which scopes."""
from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from .base import Document, UtcDatetime


class Scope(StrEnum):
    CALLS_READ = "calls:read"
    CALLS_WRITE = "calls:write"
    AGENTS_READ = "agents:read"
    AGENTS_WRITE = "agents:write"
    CAMPAIGNS_READ = "campaigns:read"
    CAMPAIGNS_WRITE = "campaigns:write"
    ADMIN = "admin"          # every scope


class ApiKey(Document):
    """Only a hash of the secret is stored; the key itself is shown once."""

    name: str
    scopes: list[Scope] = Field(min_length=1)
    key_hash: str
    prefix: str                      # the key's first characters, to recognise it in lists
    last_used_at: UtcDatetime | None = None
    revoked_at: UtcDatetime | None = None

    _private_fields = frozenset({"key_hash"})

    def allows(self, scope: Scope) -> bool:
        return self.revoked_at is None and (Scope.ADMIN in self.scopes or scope in self.scopes)
