"""Contacts (seed 002): the people calls are made to."""
from __future__ import annotations

from typing import Any

from pydantic import EmailStr, Field, field_validator

from .base import CamelModel, Document, InputModel, UtcDatetime
from .free_form import FreeForm
from .policy import HourMinute, TimezoneName


class PreferredCallTime(CamelModel):
    start: HourMinute
    end: HourMinute


class ContactDetails(CamelModel):
    company: str | None = Field(None, max_length=200)
    title: str | None = Field(None, max_length=200)
    address: FreeForm | None = None
    timezone: TimezoneName | None = None
    preferred_call_time: PreferredCallTime | None = None


class ContactHistory(CamelModel):
    total_calls: int = 0
    last_call_date: UtcDatetime | None = None
    last_call_status: str | None = None
    average_call_duration: float | None = None


class Contact(Document):
    phone: str                      # E.164, unique (seed 002 calls it phoneNumber)
    name: str | None = None
    email: str | None = None
    details: ContactDetails = ContactDetails()
    history: ContactHistory = ContactHistory()
    tags: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    source: str | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)


Label = Field(min_length=1, max_length=100)


class ContactCreate(InputModel):
    phone: str = Field(min_length=1, max_length=64)
    name: str | None = Field(None, max_length=200)
    email: EmailStr | None = None
    details: ContactDetails | None = None
    tags: list[str] = Field(default_factory=list, max_length=50)
    groups: list[str] = Field(default_factory=list, max_length=50)
    source: str | None = Field(None, max_length=100)
    custom_fields: FreeForm | None = None

    @field_validator("tags", "groups")
    @classmethod
    def _labels(cls, values: list[str]) -> list[str]:
        if any(not 1 <= len(v.strip()) <= 100 for v in values):
            raise ValueError("each label is 1 to 100 characters")
        return sorted({v.strip() for v in values})


class ContactUpdate(ContactCreate):
    phone: str = Field(None, min_length=1, max_length=64)
    tags: list[str] = Field(None, max_length=50)
    groups: list[str] = Field(None, max_length=50)
