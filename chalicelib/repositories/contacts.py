from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pymongo import UpdateOne
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from ..models.contact import Contact
from .base import Page, chunked, inserted_ignoring_duplicates, newest_first_page


@dataclass(frozen=True)
class ContactFilter:
    tag: str | None = None
    group: str | None = None
    phone: str | None = None

    def to_query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        # {$in: [x]} rather than {field: x}: the same on MongoDB, and the
        # embedded server misses array members by plain equality once indexed.
        if self.tag:
            query["tags"] = {"$in": [self.tag]}
        if self.group:
            query["groups"] = {"$in": [self.group]}
        if self.phone:
            query["phone"] = self.phone
        return query


class DuplicatePhone(Exception):
    pass


class ContactRepository:
    def __init__(self, db: Database):
        self._contacts = db["contacts"]

    def insert(self, contact: Contact) -> None:
        try:
            self._contacts.insert_one(contact.to_mongo())
        except DuplicateKeyError:
            raise DuplicatePhone(contact.phone) from None

    def get(self, contact_id: str) -> Contact | None:
        doc = self._contacts.find_one({"_id": contact_id})
        return Contact.from_mongo(doc) if doc else None

    def get_by_phone(self, phone: str) -> Contact | None:
        doc = self._contacts.find_one({"phone": phone})
        return Contact.from_mongo(doc) if doc else None

    def list(self, filters: ContactFilter, *, limit: int, cursor: str | None) -> Page[Contact]:
        docs, next_cursor = newest_first_page(self._contacts, filters.to_query(), limit=limit, cursor=cursor)
        return Page([Contact.from_mongo(d) for d in docs], next_cursor)

    def update(self, contact_id: str, fields: dict[str, Any]) -> Contact | None:
        # update_one, not find_one_and_update: the embedded server's
        # findAndModify swallows a unique-index violation instead of raising it.
        try:
            result = self._contacts.update_one({"_id": contact_id}, {"$set": fields})
        except DuplicateKeyError:
            raise DuplicatePhone(fields.get("phone", "")) from None
        return self.get(contact_id) if result.matched_count else None

    def delete(self, contact_id: str) -> bool:
        return self._contacts.delete_one({"_id": contact_id}).deleted_count == 1

    def ensure_many(self, wanted: dict[str, tuple[str | None, str | None]],
                    new_contact: Callable[[str], Contact]) -> tuple[dict[str, str], int]:
        """One contact per number: {phone: (name, email)} → ({phone: contact
        id}, how many were created). A number without a contact gets
        `new_contact(phone)`; an existing contact is never overwritten, only
        its missing name or email is filled in.

        Reads first, then inserts only what is missing, in chunks: a retry
        finds what an interrupted run created, and a concurrent import of
        the same number loses the unique-index race and re-reads the winner.
        """
        ids: dict[str, str] = {}
        created = 0
        phones = list(wanted)
        for chunk in chunked(phones, 1000):
            # One batch per chunk (a cursor's first batch is otherwise 101 documents).
            found = {d["phone"]: d for d in self._contacts.find(
                {"phone": {"$in": list(chunk)}}, {"_id": 1, "phone": 1, "name": 1, "email": 1},
                batch_size=len(chunk))}
            fresh = [new_contact(phone).to_mongo() for phone in chunk if phone not in found]
            inserted = inserted_ignoring_duplicates(self._contacts, fresh)
            created += len(inserted)
            ids.update((doc["phone"], doc["_id"]) for doc in fresh if doc["_id"] in inserted)
            lost = [doc["phone"] for doc in fresh if doc["_id"] not in inserted]
            if lost:   # another import created them meanwhile
                found.update((d["phone"], d) for d in self._contacts.find(
                    {"phone": {"$in": lost}}, {"_id": 1, "phone": 1, "name": 1, "email": 1}))
            fills = []
            for phone, doc in found.items():
                ids[phone] = doc["_id"]
                name, email = wanted[phone]
                missing = {field: value for field, value in (("name", name), ("email", email))
                           if value and not doc.get(field)}
                if missing:
                    fills.append(UpdateOne({"_id": doc["_id"]}, {"$set": missing}))
            if fills:
                self._contacts.bulk_write(fills, ordered=False)
        return ids, created
