"""Retention: documents older than the retention period move to cold storage.

Each collection is archived a whole UTC day at a time, oldest day first, in
chunks of `_id`-ordered documents. A chunk is written to
`<collection>/YYYY/MM/DD/part-<first _id>.jsonl.gz` (gzip JSON Lines, with its
line count and SHA-256 in the object's metadata), read back and checked, and
only then are exactly the ids in that object deleted.

Resuming: before exporting a day, the objects already under its prefix are
read and verified; documents whose ids they contain are deleted without being
exported again (a run that stopped between upload and delete), so nothing is
archived twice. An object that fails verification is ignored, and its
documents are exported again under a key derived from their first id, which
overwrites it. Analytics documents are never archived or deleted.
"""
from __future__ import annotations

import gzip
import hashlib
import logging
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

from .. import clock
from ..archive_store import ArchiveStore
from ..repositories.archive import ARCHIVED, ArchiveRepository, decode_lines, encode_lines

log = logging.getLogger(__name__)


class ArchiveCorrupt(RuntimeError):
    pass


def day_prefix(collection: str, day: date) -> str:
    return f"{collection}/{day:%Y/%m/%d}/"


def pack(docs: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    body = encode_lines(docs)
    return gzip.compress(body, mtime=0), {"count": str(len(docs)), "sha256": hashlib.sha256(body).hexdigest()}


def unpack(data: bytes, metadata: dict[str, str]) -> list[dict[str, Any]]:
    """The documents of an archived object, if it is whole (else ArchiveCorrupt)."""
    try:
        body = gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise ArchiveCorrupt(f"not gzip: {exc}") from None
    if hashlib.sha256(body).hexdigest() != metadata.get("sha256"):
        raise ArchiveCorrupt("checksum mismatch")
    docs = decode_lines(body)
    if str(len(docs)) != metadata.get("count"):
        raise ArchiveCorrupt(f"{len(docs)} documents, metadata says {metadata.get('count')}")
    return docs


class ArchiveService:
    def __init__(self, repository: ArchiveRepository, store: ArchiveStore, *, chunk_size: int, retention_days: int,
                 events_retention_days: int, time_budget_seconds: float = 600):
        self._repo = repository
        self._store = store
        self._chunk = chunk_size
        self._retention = {name: retention_days for name in ARCHIVED}
        self._retention["call_events"] = events_retention_days
        self._budget = time_budget_seconds

    def cutoff(self, collection: str, now: datetime) -> datetime:
        """Whole UTC days before this instant are archived."""
        day = (now - timedelta(days=self._retention[collection])).date()
        return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)

    def run(self) -> dict[str, Any]:
        """Archive everything past retention, until done or out of time."""
        now = clock.now()
        deadline = time.monotonic() + self._budget
        report: dict[str, Any] = {"archived": {}, "complete": True}
        for collection in ARCHIVED:
            cutoff = self.cutoff(collection, now)
            while (oldest := self._repo.oldest(collection, cutoff)) is not None:
                if time.monotonic() > deadline:
                    report["complete"] = False
                    return report
                moved = self.archive_day(collection, oldest.date(), deadline)
                report["archived"][collection] = report["archived"].get(collection, 0) + moved
        return report

    def archive_day(self, collection: str, day: date, deadline: float | None = None) -> int:
        """Move one day of a collection to the archive; returns documents deleted."""
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        end = start + timedelta(days=1)
        prefix = day_prefix(collection, day)
        deleted = 0
        # A previous run may have uploaded and verified objects without deleting their documents.
        for key in self._store.keys(prefix):
            try:
                ids = [doc["_id"] for doc in unpack(*self._store.get(key))]
            except ArchiveCorrupt as exc:
                log.warning("archive object %s ignored: %s", key, exc)
                continue
            deleted += self._repo.delete(collection, ids)
        while docs := self._repo.chunk(collection, start, end, self._chunk):
            key = f"{prefix}part-{docs[0]['_id']}.jsonl.gz"
            data, metadata = pack(docs)
            self._store.put(key, data, metadata)
            archived = unpack(*self._store.get(key))      # read back before anything is deleted
            if [d["_id"] for d in archived] != [d["_id"] for d in docs]:
                raise ArchiveCorrupt(f"{key}: read back other documents than were written")
            deleted += self._repo.delete(collection, [d["_id"] for d in docs])
            if deadline is not None and time.monotonic() > deadline:
                break
        log.info("archived %s %s: %d documents", collection, day, deleted)
        return deleted

    def restore(self, collection: str, first: date, last: date) -> int:
        """Put the archived documents of [first, last] back into their collection."""
        if collection not in ARCHIVED:
            raise ValueError(f"{collection} is not archived")
        restored = 0
        day = first
        while day <= last:
            for key in self._store.keys(day_prefix(collection, day)):
                restored += self._repo.restore(collection, unpack(*self._store.get(key)))
            day += timedelta(days=1)
        return restored
