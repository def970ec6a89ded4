"""Transcripts and recordings (seed 002), and finding a call by its
ElevenLabs conversation. Unique keys make duplicated webhook deliveries
harmless: one transcript per conversation, one recording per recording SID."""
from __future__ import annotations

from pymongo import ASCENDING as ASC
from pymongo import IndexModel
from pymongo.database import Database

from .schema import create_schema, drop_schema

VERSION = 8
NAME = "conversation: transcripts, recordings"

NEW_COLLECTIONS: dict[str, list[IndexModel]] = {
    "transcripts": [
        IndexModel([("conversationId", ASC)], name="transcripts_conversationId_unique", unique=True),
        IndexModel([("callId", ASC), ("createdAt", ASC)], name="transcripts_callId_createdAt"),
        IndexModel([("recordingSid", ASC)], name="transcripts_recordingSid", sparse=True),
    ],
    "recordings": [
        IndexModel([("recordingSid", ASC)], name="recordings_recordingSid_unique", unique=True),
        IndexModel([("callId", ASC), ("createdAt", ASC)], name="recordings_callId_createdAt"),
    ],
}
CALL_INDEXES = [IndexModel([("conversationId", ASC)], name="calls_conversationId", unique=True, sparse=True)]


def up(db: Database) -> None:
    create_schema(db, NEW_COLLECTIONS, {"calls": CALL_INDEXES})


def down(db: Database) -> None:
    drop_schema(db, NEW_COLLECTIONS, {"calls": CALL_INDEXES})
