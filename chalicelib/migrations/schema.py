"""Helpers the migrations share."""
from __future__ import annotations

from pymongo import IndexModel
from pymongo.database import Database
from pymongo.errors import OperationFailure

INDEX_NOT_FOUND = 27


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


def ensure_indexes(db: Database, collection: str, indexes: list[IndexModel]) -> None:
    """Create the indexes whose key no existing index has already (another
    migration may have made the same index under another name)."""
    existing = {tuple(spec["key"]) for spec in db[collection].index_information().values()}
    missing = [index for index in indexes if tuple(index.document["key"].items()) not in existing]
    if missing:
        db[collection].create_indexes(missing)


def drop_indexes(db: Database, collection: str, indexes: list[IndexModel]) -> None:
    """Drop these indexes by their names where they exist (one `ensure_indexes`
    skipped is not there: another migration's index under another name stays)."""
    for index in indexes:
        try:
            db[collection].drop_index(index.document["name"])
        except OperationFailure as exc:
            if exc.code != INDEX_NOT_FOUND and "not found" not in str(exc).lower():
                raise


def create_schema(db: Database, collections: dict[str, list[IndexModel]],
                  indexes_on_existing: dict[str, list[IndexModel]]) -> None:
    """A migration's `up`: its new collections, and its indexes on collections
    an earlier migration made."""
    create_collections(db, collections)
    for name, indexes in indexes_on_existing.items():
        db[name].create_indexes(indexes)


def drop_schema(db: Database, collections: dict[str, list[IndexModel]],
                indexes_on_existing: dict[str, list[IndexModel]]) -> None:
    """The matching `down`."""
    for name, indexes in indexes_on_existing.items():
        drop_indexes(db, name, indexes)
    drop_collections(db, collections)
