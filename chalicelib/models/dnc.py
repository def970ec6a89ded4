"""The do-not-call list: numbers no path may dial."""
from __future__ import annotations

from pydantic import Field

from .base import InputModel, Stored


class DncEntry(Stored):
    """`id` is the number itself (E.164): one entry per number."""

    reason: str | None = None
    source: str = "api"


class DncCreate(InputModel):
    phone: str = Field(min_length=1, max_length=64)
    reason: str | None = Field(None, max_length=500)
