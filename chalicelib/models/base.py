"""Shared pydantic plumbing: camelCase on the wire and in MongoDB, snake_case in Python."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a UTC offset or 'Z'")
    return value.astimezone(timezone.utc)


# Every datetime inside the system is timezone-aware UTC.
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class InputModel(CamelModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid",
                              str_strip_whitespace=True)


class Stored(CamelModel):
    """A stored document. `id` is `_id` in MongoDB and `id` in the API."""

    # Enums are stored as their plain string values.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore",
                              use_enum_values=True, validate_default=True)

    id: str
    created_at: UtcDatetime

    # Fields that live in the database but never leave the service.
    _private_fields: frozenset[str] = frozenset()

    def to_mongo(self) -> dict[str, Any]:
        doc = self.model_dump(by_alias=True, exclude_none=True, exclude=self._computed())
        doc["_id"] = doc.pop("id")
        return doc

    @classmethod
    def from_mongo(cls, doc: dict[str, Any]):
        data = dict(doc)
        data["id"] = data.pop("_id")
        return cls.model_validate(data)

    def to_api(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True,
                               exclude=set(self._private_fields))

    @classmethod
    def _computed(cls) -> set[str]:
        return set(cls.model_computed_fields)


class Document(Stored):
    """A stored document that changes over time."""

    updated_at: UtcDatetime
