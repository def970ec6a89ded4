"""The do-not-call list, keyed by the E.164 number."""
from __future__ import annotations

from pymongo import DESCENDING as DESC
from pymongo import IndexModel
from pymongo.database import Database

from .schema import create_collections, drop_collections

VERSION = 4
NAME = "do-not-call list"

COLLECTIONS = {"dnc": [IndexModel([("createdAt", DESC), ("_id", DESC)], name="dnc_createdAt_id")]}


def up(db: Database) -> None:
    create_collections(db, COLLECTIONS)


def down(db: Database) -> None:
    drop_collections(db, COLLECTIONS)
