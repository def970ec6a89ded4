from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from pymongo import ReturnDocument, UpdateOne
from pymongo.database import Database

from ..models.campaign import OPEN_CONTACT_STATUSES, CampaignContact, ContactStatus
from .base import Page, chunked, inserted_ignoring_duplicates, newest_first_page


class CampaignContactRepository:
    def __init__(self, db: Database):
        self._rows = db["campaign_contacts"]

    def add_many(self, rows: list[CampaignContact]) -> tuple[int, int]:
        """Add each contact to its campaign unless it is there already (then
        its customData and sheetRow are refreshed). Returns (added, already
        there). Safe to repeat, which is what makes an import retryable.

        Reads what is there, then inserts the rest in one unordered batch
        per 1,000 rather than upserting: the same on MongoDB, and ~40x faster
        on the embedded server (whose upserts run one by one). A concurrent
        import that inserted a row first wins the unique index; it counts as
        already there."""
        added = 0
        for chunk in chunked(rows, 1000):
            for campaign_id in {row.campaign_id for row in chunk}:
                mine = {row.contact_id: row for row in chunk if row.campaign_id == campaign_id}
                found = {d["contactId"]: d for d in self._rows.find(
                    {"campaignId": campaign_id, "contactId": {"$in": list(mine)}},
                    {"_id": 1, "contactId": 1, "customData": 1, "sheetRow": 1}, batch_size=len(mine))}
                fresh = [row.to_mongo() for contact_id, row in mine.items() if contact_id not in found]
                added += len(inserted_ignoring_duplicates(self._rows, fresh))
                refresh = [UpdateOne({"_id": doc["_id"]}, {"$set": changed | {"updatedAt": mine[cid].updated_at}})
                           for cid, doc in found.items() if (changed := _changed(doc, mine[cid]))]
                if refresh:
                    self._rows.bulk_write(refresh, ordered=False)
        return added, len(rows) - added

    def from_sheet(self, campaign_id: str) -> list[CampaignContact]:
        """The campaign's contacts that came from its Google Sheet."""
        docs = self._rows.find({"campaignId": campaign_id, "sheetRow": {"$gte": 1}})
        return [CampaignContact.from_mongo(d) for d in docs]

    def from_sheet_changed_since(self, campaign_id: str, since: datetime) -> list[CampaignContact]:
        docs = self._rows.find({"campaignId": campaign_id, "sheetRow": {"$gte": 1}, "updatedAt": {"$gte": since}})
        return [CampaignContact.from_mongo(d) for d in docs]

    def get(self, row_id: str) -> CampaignContact | None:
        doc = self._rows.find_one({"_id": row_id})
        return CampaignContact.from_mongo(doc) if doc else None

    def find(self, campaign_id: str, contact_id: str) -> CampaignContact | None:
        doc = self._rows.find_one({"campaignId": campaign_id, "contactId": contact_id})
        return CampaignContact.from_mongo(doc) if doc else None

    def list(self, campaign_id: str, *, status: str | None, limit: int, cursor: str | None) -> Page[CampaignContact]:
        query = {"campaignId": campaign_id} | ({"status": status} if status else {})
        docs, next_cursor = newest_first_page(self._rows, query, limit=limit, cursor=cursor)
        return Page([CampaignContact.from_mongo(d) for d in docs], next_cursor)

    def due(self, campaign_id: str, *, now: datetime, limit: int) -> list[CampaignContact]:
        docs = self._rows.find({"campaignId": campaign_id, "status": ContactStatus.PENDING.value,
                                "nextAttempt": {"$lte": now}}).sort("nextAttempt", 1).limit(limit)
        return [CampaignContact.from_mongo(d) for d in docs]

    def count(self, campaign_id: str, statuses: Iterable[ContactStatus]) -> int:
        return self._rows.count_documents({"campaignId": campaign_id,
                                           "status": {"$in": [s.value for s in statuses]}})

    def count_open(self, campaign_id: str) -> int:
        return self.count(campaign_id, OPEN_CONTACT_STATUSES)

    def counts_by_status(self, campaign_id: str) -> dict[str, int]:
        rows = self._rows.aggregate([{"$match": {"campaignId": campaign_id}},
                                     {"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        return {row["_id"]: row["n"] for row in rows}

    def claim_attempt(self, row: CampaignContact, *, call_id: str, now: datetime) -> CampaignContact | None:
        """pending → calling for exactly this call. The count of calls in the
        filter (it only grows) makes the claim happen once, however many
        runners race."""
        doc = self._rows.find_one_and_update(
            {"_id": row.id, "status": ContactStatus.PENDING.value, "callsCreated": row.calls_created},
            {"$set": {"status": ContactStatus.CALLING.value, "currentCallId": call_id, "lastAttempt": now,
                      "updatedAt": now},
             "$inc": {"attempts": 1, "callsCreated": 1}},
            return_document=ReturnDocument.AFTER)
        return CampaignContact.from_mongo(doc) if doc else None

    def move(self, row_id: str, *, to: ContactStatus, allowed_from: Iterable[ContactStatus],
             fields: dict[str, Any] | None = None, push_result: dict[str, Any] | None = None,
             inc: dict[str, int] | None = None, extra_filter: dict[str, Any] | None = None,
             now: datetime) -> CampaignContact | None:
        update: dict[str, Any] = {"$set": {"status": to.value, "updatedAt": now, **(fields or {})}}
        if push_result:
            update["$push"] = {"callResults": push_result}
        if inc:
            update["$inc"] = inc
        doc = self._rows.find_one_and_update(
            {"_id": row_id, "status": {"$in": [s.value for s in allowed_from]}, **(extra_filter or {})},
            update, return_document=ReturnDocument.AFTER)
        return CampaignContact.from_mongo(doc) if doc else None

    def defer(self, row_id: str, *, until: datetime, now: datetime) -> None:
        self._rows.update_one({"_id": row_id, "status": ContactStatus.PENDING.value},
                              {"$set": {"nextAttempt": until, "updatedAt": now}})

    def cancel_pending(self, campaign_id: str, *, now: datetime) -> int:
        result = self._rows.update_many({"campaignId": campaign_id, "status": ContactStatus.PENDING.value},
                                        {"$set": {"status": ContactStatus.CANCELLED.value, "updatedAt": now}})
        return result.modified_count

    def calling_since_before(self, campaign_id: str, before: datetime, *, limit: int = 1000) -> list[CampaignContact]:
        docs = self._rows.find({"campaignId": campaign_id, "status": ContactStatus.CALLING.value,
                                "lastAttempt": {"$lt": before}}).limit(limit)
        return [CampaignContact.from_mongo(d) for d in docs]

    def calling_ids(self, campaign_id: str, *, limit: int = 10_000) -> list[tuple[str, str]]:
        """(row id, current call id) of the campaign's contacts being called."""
        docs = self._rows.find({"campaignId": campaign_id, "status": ContactStatus.CALLING.value},
                               {"_id": 1, "currentCallId": 1}).limit(limit)
        return [(d["_id"], d.get("currentCallId")) for d in docs]


def _changed(stored: dict[str, Any], row: CampaignContact) -> dict[str, Any]:
    wanted = {"customData": row.custom_data} | ({"sheetRow": row.sheet_row} if row.sheet_row is not None else {})
    return {name: value for name, value in wanted.items() if stored.get(name) != value}
