"""Helpers the migrations share."""
from __future__ import annotations

from pymongo import IndexModel
from pymongo.database import Database


def create_collections(db: Database, spec: dict[str, list[IndexModel]]) -> None:
    """Create each collection (if missing) with its indexes; safe to repeat."""
    existing = set(db.list_collection_names())
    for name, indexes in spec.items():
        if name not in existing:
            db.create_collection(name)
        if indexes:
            db[name].create_indexes(indexes)


def drop_collections(db: Database, spec: dict[str, list[IndexModel]]) -> None:
    for name in spec:
        db.drop_collection(name)
