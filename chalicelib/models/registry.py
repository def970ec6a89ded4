"""Which pydantic model describes the documents of each collection.

Migrations derive each collection's MongoDB `$jsonSchema` validator from this
table (chalicelib/migrations/validators.py). A new collection adds one line
here. Migration 0009 applies the validators of every collection listed when it
runs; a collection (or a model change) that comes after it on a database where
0009 is already applied needs its own migration to call
`validators.apply_validators(db, {"name": Model})` (and `remove_validators` in down).
"""
from __future__ import annotations

from .agent import Agent
from .analytics import AnalyticsDocument, RollupState
from .api_key import ApiKey
from .base import Stored
from .batch import Batch
from .call import Call, CallEvent
from .campaign import Campaign, CampaignContact
from .contact import Contact
from .conversation import Recording, Transcript
from .dnc import DncEntry
from .retry import RetryAttempt
from .schedule import ScheduledCall

COLLECTION_MODELS: dict[str, type[Stored]] = {
    "agents": Agent,
    "calls": Call,
    "call_events": CallEvent,
    "scheduled_calls": ScheduledCall,
    "retry_attempts": RetryAttempt,
    "api_keys": ApiKey,
    "contacts": Contact,
    "dnc": DncEntry,
    "campaigns": Campaign,
    "campaign_contacts": CampaignContact,
    "batches": Batch,
    "transcripts": Transcript,
    "recordings": Recording,
    "analytics": AnalyticsDocument,
    "rollup_state": RollupState,
}
