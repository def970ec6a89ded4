"""Contacts: one per phone number (normalised before de-duplication)."""
from __future__ import annotations

from typing import Any

from .. import clock, timing
from ..errors import Conflict, NotFound
from ..ids import new_id
from ..models.call import Call
from ..models.contact import Contact, ContactCreate, ContactDetails, ContactUpdate
from ..phone import to_e164
from ..repositories.base import Page
from ..repositories.calls import CallFilter, CallRepository
from ..repositories.contacts import ContactFilter, ContactRepository, DuplicatePhone


class ContactService:
    def __init__(self, contacts: ContactRepository, calls: CallRepository, *, default_region: str):
        self._contacts = contacts
        self._calls = calls
        self._region = default_region

    def create(self, data: ContactCreate) -> Contact:
        phone = to_e164(data.phone, default_region=self._region, field="phone")
        now = clock.now()
        contact = Contact(id=new_id("ctc"), created_at=now, updated_at=now, phone=phone, name=data.name,
                          email=data.email, details=_with_zone(data.details or ContactDetails(), phone),
                          tags=data.tags, groups=data.groups, source=data.source or "api",
                          custom_fields=data.custom_fields or {})
        try:
            self._contacts.insert(contact)
        except DuplicatePhone:
            existing = self._contacts.get_by_phone(phone)
            raise Conflict(f"contact {existing.id if existing else ''} already has this number", field="phone") from None
        return contact

    def get(self, contact_id: str) -> Contact:
        contact = self._contacts.get(contact_id)
        if contact is None:
            raise NotFound(f"no contact {contact_id}", field="contactId")
        return contact

    def list(self, filters: ContactFilter, *, limit: int, cursor: str | None) -> Page[Contact]:
        if filters.phone:
            filters = ContactFilter(tag=filters.tag, group=filters.group,
                                    phone=to_e164(filters.phone, default_region=self._region, field="phone"))
        return self._contacts.list(filters, limit=limit, cursor=cursor)

    def update(self, contact_id: str, data: ContactUpdate) -> Contact:
        contact = self.get(contact_id)
        given = data.model_fields_set
        fields: dict[str, Any] = {"updatedAt": clock.now()}
        phone = contact.phone
        if "phone" in given and data.phone:
            phone = fields["phone"] = to_e164(data.phone, default_region=self._region, field="phone")
        for name in ("name", "email", "source"):
            if name in given:
                fields[name] = getattr(data, name)
        for name in ("tags", "groups"):
            if name in given and getattr(data, name) is not None:
                fields[name] = getattr(data, name)
        if "custom_fields" in given:
            fields["customFields"] = data.custom_fields or {}
        if "details" in given:
            details = _with_zone(data.details or ContactDetails(), phone)
            fields["details"] = details.model_dump(mode="json", by_alias=True, exclude_none=True)
        try:
            updated = self._contacts.update(contact_id, fields)
        except DuplicatePhone:
            raise Conflict("another contact already has this number", field="phone") from None
        if updated is None:
            raise NotFound(f"no contact {contact_id}", field="contactId")
        return updated

    def delete(self, contact_id: str) -> None:
        if not self._contacts.delete(contact_id):
            raise NotFound(f"no contact {contact_id}", field="contactId")

    def calls(self, contact_id: str, *, limit: int, cursor: str | None) -> Page[Call]:
        """The contact's call history: every call to its number, newest first."""
        return self._calls.list(CallFilter(to=self.get(contact_id).phone), limit=limit, cursor=cursor)


def _with_zone(details: ContactDetails, phone: str) -> ContactDetails:
    """Infer the time zone from the number when it is unambiguous."""
    if details.timezone is None and (zone := timing.single_zone(phone)):
        return details.model_copy(update={"timezone": zone})
    return details
