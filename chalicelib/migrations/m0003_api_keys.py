"""API keys, found by the hash of the presented key."""
from __future__ import annotations

from pymongo import ASCENDING as ASC
from pymongo import IndexModel
from pymongo.database import Database

from .schema import create_collections, drop_collections

VERSION = 3
NAME = "api keys"

COLLECTIONS = {"api_keys": [IndexModel([("keyHash", ASC)], name="api_keys_keyHash_unique", unique=True)]}


def up(db: Database) -> None:
    create_collections(db, COLLECTIONS)


def down(db: Database) -> None:
    drop_collections(db, COLLECTIONS)
