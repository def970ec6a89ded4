"""Contacts (seed 002): unique by phone; tags, groups and email lookups."""
from __future__ import annotations

from pymongo import ASCENDING as ASC
from pymongo import DESCENDING as DESC
from pymongo import IndexModel
from pymongo.database import Database

from .schema import create_collections, drop_collections

VERSION = 5
NAME = "contacts"

COLLECTIONS = {"contacts": [
    IndexModel([("phone", ASC)], name="contacts_phone_unique", unique=True),
    IndexModel([("email", ASC)], name="contacts_email", sparse=True),
    IndexModel([("tags", ASC)], name="contacts_tags"),
    IndexModel([("groups", ASC)], name="contacts_groups"),
    IndexModel([("createdAt", DESC), ("_id", DESC)], name="contacts_createdAt_id"),
]}


def up(db: Database) -> None:
    create_collections(db, COLLECTIONS)


def down(db: Database) -> None:
    drop_collections(db, COLLECTIONS)
