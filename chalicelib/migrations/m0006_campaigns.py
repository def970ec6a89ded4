"""Campaigns, their contacts, and the outbox of callbackUrl posts (seed 002)."""
from __future__ import annotations

from pymongo import ASCENDING as ASC
from pymongo import DESCENDING as DESC
from pymongo import IndexModel
from pymongo.database import Database

from .schema import create_collections, drop_collections

VERSION = 6
NAME = "campaigns"

COLLECTIONS = {
    "campaigns": [
        IndexModel([("status", ASC)], name="campaigns_status"),
        IndexModel([("startDate", ASC)], name="campaigns_startDate", sparse=True),
        IndexModel([("createdAt", DESC), ("_id", DESC)], name="campaigns_createdAt_id"),
    ],
    "campaign_contacts": [
        # One row per contact per campaign: what makes a re-import harmless.
        IndexModel([("campaignId", ASC), ("contactId", ASC)], name="campaign_contacts_campaign_contact_unique",
                   unique=True),
        IndexModel([("campaignId", ASC), ("status", ASC), ("nextAttempt", ASC)],
                   name="campaign_contacts_campaign_status_nextAttempt"),
        IndexModel([("contactId", ASC)], name="campaign_contacts_contactId"),
        IndexModel([("status", ASC), ("nextAttempt", ASC)], name="campaign_contacts_status_nextAttempt"),
    ],
    "callback_deliveries": [
        IndexModel([("status", ASC), ("nextAttemptAt", ASC)], name="callback_deliveries_status_nextAttemptAt"),
        IndexModel([("campaignId", ASC), ("createdAt", DESC)], name="callback_deliveries_campaign_createdAt"),
    ],
}


def up(db: Database) -> None:
    create_collections(db, COLLECTIONS)


def down(db: Database) -> None:
    drop_collections(db, COLLECTIONS)
