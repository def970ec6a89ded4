from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from pymongo import ReturnDocument
from pymongo.database import Database

from ..models.campaign import Campaign, CampaignStatus
from .base import Page, newest_first_page


class CampaignRepository:
    def __init__(self, db: Database):
        self._campaigns = db["campaigns"]

    def insert(self, campaign: Campaign) -> None:
        self._campaigns.insert_one(campaign.to_mongo())

    def get(self, campaign_id: str) -> Campaign | None:
        doc = self._campaigns.find_one({"_id": campaign_id})
        return Campaign.from_mongo(doc) if doc else None

    def list(self, *, status: str | None, limit: int, cursor: str | None) -> Page[Campaign]:
        query = {"status": status} if status else {}
        docs, next_cursor = newest_first_page(self._campaigns, query, limit=limit, cursor=cursor)
        return Page([Campaign.from_mongo(d) for d in docs], next_cursor)

    def ids_with_status(self, status: CampaignStatus, *, limit: int = 1000) -> list[str]:
        return [d["_id"] for d in self._campaigns.find({"status": status.value}, {"_id": 1}).limit(limit)]

    def transition(self, campaign_id: str, *, to: CampaignStatus, allowed_from: Iterable[CampaignStatus],
                   fields: dict[str, Any] | None = None, now: datetime) -> Campaign | None:
        """Move the campaign to `to` if it is in one of `allowed_from`; None otherwise."""
        doc = self._campaigns.find_one_and_update(
            {"_id": campaign_id, "status": {"$in": [s.value for s in allowed_from]}},
            {"$set": {"status": to.value, "updatedAt": now, **(fields or {})}},
            return_document=ReturnDocument.AFTER)
        return Campaign.from_mongo(doc) if doc else None

    def update_while(self, campaign_id: str, statuses: Iterable[CampaignStatus], fields: dict[str, Any], *,
                     now: datetime) -> Campaign | None:
        doc = self._campaigns.find_one_and_update(
            {"_id": campaign_id, "status": {"$in": [s.value for s in statuses]}},
            {"$set": {**fields, "updatedAt": now}}, return_document=ReturnDocument.AFTER)
        return Campaign.from_mongo(doc) if doc else None

    def add_to_stats(self, campaign_id: str, counts: dict[str, int], *, now: datetime) -> None:
        increments = {f"stats.{name}": value for name, value in counts.items() if value}
        if increments:
            self._campaigns.update_one({"_id": campaign_id}, {"$inc": increments, "$set": {"updatedAt": now}})

    def take_runner_lease(self, campaign_id: str, *, now: datetime, until: datetime) -> bool:
        """One runner at a time fills a campaign, so two runs cannot both see
        the same free slots."""
        result = self._campaigns.update_one(
            # runnerLeaseUntil is written at creation (EPOCH), so no $or is needed.
            {"_id": campaign_id, "status": CampaignStatus.ACTIVE.value, "runnerLeaseUntil": {"$lte": now}},
            {"$set": {"runnerLeaseUntil": until}})
        return result.modified_count == 1

    def release_runner_lease(self, campaign_id: str, *, now: datetime) -> None:
        self._campaigns.update_one({"_id": campaign_id}, {"$set": {"runnerLeaseUntil": now}})

    def with_sheet_statuses(self, statuses: Iterable[CampaignStatus]) -> list[Campaign]:
        docs = self._campaigns.find({"status": {"$in": [s.value for s in statuses]},
                                     "sheetIntegration.statusColumn": {"$exists": True}})
        return [Campaign.from_mongo(d) for d in docs]

    def set_status_sync(self, campaign_id: str, at: datetime) -> None:
        self._campaigns.update_one({"_id": campaign_id}, {"$set": {"sheetIntegration.lastStatusSync": at}})

    def set_sheet_sync(self, campaign_id: str, at: datetime) -> None:
        self._campaigns.update_one({"_id": campaign_id}, {"$set": {"sheetIntegration.lastSyncTime": at}})
