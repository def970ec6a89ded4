from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Generic, Iterator, Sequence, TypeVar

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

T = TypeVar("T")


def and_(*clauses: dict[str, Any]) -> dict[str, Any]:
    """Combine filter clauses under an explicit `$and`.

    nx-27017 drops sibling keys of a `$or` whose branches compare dates, so a
    filter that needs `$or` is always spelled as `$and` of clauses.
    """
    clauses = tuple(c for c in clauses if c)
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": list(clauses)}


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


DUPLICATE_KEY = 11000


def inserted_ignoring_duplicates(collection: Collection, docs: list[dict[str, Any]]) -> set[Any]:
    """Insert `docs` in one unordered batch; the `_id`s that went in. A
    document that hits a unique index (someone else inserted it first) is
    left out; any other write error is raised."""
    if not docs:
        return set()
    try:
        collection.insert_many(docs, ordered=False)
        return {doc["_id"] for doc in docs}
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(error.get("code") != DUPLICATE_KEY for error in errors) or not errors:
            raise
        refused = {error["index"] for error in errors}
        return {doc["_id"] for index, doc in enumerate(docs) if index not in refused}


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


class InvalidCursor(ValueError):
    pass


def encode_cursor(created_at: datetime, doc_id: str) -> str:
    raw = json.dumps({"t": created_at.isoformat(), "id": doc_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


MAX_CURSOR_LENGTH = 256


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor("malformed cursor")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        created_at = datetime.fromisoformat(data["t"])
        if created_at.tzinfo is None:
            raise ValueError
        created_at = created_at.astimezone(timezone.utc)
        if not isinstance(data["id"], str) or not 1970 <= created_at.year <= 9999:
            raise ValueError
        return created_at, data["id"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError, OverflowError):
        raise InvalidCursor("malformed cursor") from None


def newest_first_page(collection: Collection, query: dict[str, Any], *, limit: int,
                      cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Keyset pagination on (createdAt desc, _id desc): stable while documents
    are being inserted, and served by the compound indexes ending in createdAt."""
    clauses = [query]
    if cursor:
        created_at, doc_id = decode_cursor(cursor)
        clauses.append({"$or": [
            {"createdAt": {"$lt": created_at}},
            {"createdAt": created_at, "_id": {"$lt": doc_id}},
        ]})
    docs = list(
        collection.find(and_(*clauses))
        .sort([("createdAt", -1), ("_id", -1)])
        .limit(limit + 1)
    )
    next_cursor = None
    if len(docs) > limit:
        docs = docs[:limit]
        next_cursor = encode_cursor(docs[-1]["createdAt"], docs[-1]["_id"])
    return docs, next_cursor
