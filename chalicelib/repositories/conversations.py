"""Transcripts and recordings: written once per conversation / recording SID."""
from __future__ import annotations

from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from ..models.conversation import Recording, Transcript


class TranscriptRepository:
    def __init__(self, db: Database):
        self._transcripts = db["transcripts"]

    def insert(self, transcript: Transcript) -> bool:
        """False when this conversation's transcript is already stored."""
        try:
            self._transcripts.insert_one(transcript.to_mongo())
            return True
        except DuplicateKeyError:
            return False

    def for_call(self, call_id: str) -> Transcript | None:
        docs = list(self._transcripts.find({"callId": call_id}).sort("createdAt", -1).limit(1))
        return Transcript.from_mongo(docs[0]) if docs else None

    def link_recording(self, conversation_id: str, recording_sid: str) -> None:
        self._transcripts.update_one({"conversationId": conversation_id}, {"$set": {"recordingSid": recording_sid}})


class RecordingRepository:
    def __init__(self, db: Database):
        self._recordings = db["recordings"]

    def upsert(self, recording: Recording) -> Recording:
        """One document per recording SID. A later status (in-progress, then
        completed) updates it; an in-progress report never overwrites a
        finished one, and a repeated delivery changes nothing new."""
        sid = recording.recording_sid
        doc = recording.to_mongo()
        doc.pop("recordingSid")
        created = {k: doc.pop(k) for k in ("_id", "createdAt", "callId")}
        update = ({"$setOnInsert": {**created, **doc}} if recording.status == "in-progress"
                  else {"$set": doc, "$setOnInsert": created})
        try:
            self._recordings.update_one({"recordingSid": sid}, update, upsert=True)
        except DuplicateKeyError:   # two first deliveries raced; the other one inserted it
            if "$set" in update:
                self._recordings.update_one({"recordingSid": sid}, {"$set": doc})
        return self.get(sid)

    def for_call(self, call_id: str) -> list[Recording]:
        return [Recording.from_mongo(d) for d in self._recordings.find({"callId": call_id}).sort("createdAt", 1)]

    def get(self, recording_sid: str) -> Recording | None:
        doc = self._recordings.find_one({"recordingSid": recording_sid})
        return Recording.from_mongo(doc) if doc else None

    def set_fields(self, recording_sid: str, fields: dict[str, Any]) -> None:
        self._recordings.update_one({"recordingSid": recording_sid}, {"$set": fields})
