"""Versioned schema migrations, recorded in the `migrations` collection.

Each migration is a module with VERSION, NAME, up(db) and down(db). Indexes
get explicit names so `down` can drop exactly what `up` created (the embedded
server renames indexes it is not given a name for).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pymongo.database import Database

from .. import clock
from . import (m0001_initial, m0002_scheduling, m0003_api_keys, m0004_dnc, m0005_contacts, m0006_campaigns,
               m0007_batches_pacing, m0008_conversation, m0009_analytics_governance)

MIGRATIONS = [m0001_initial, m0002_scheduling, m0003_api_keys, m0004_dnc, m0005_contacts, m0006_campaigns,
              m0007_batches_pacing, m0008_conversation, m0009_analytics_governance]


@dataclass(frozen=True)
class MigrationState:
    version: int
    name: str
    applied_at: datetime | None


def status(db: Database) -> list[MigrationState]:
    applied = {doc["_id"]: doc["appliedAt"] for doc in db["migrations"].find()}
    return [MigrationState(m.VERSION, m.NAME, applied.get(m.VERSION)) for m in MIGRATIONS]


def up(db: Database, *, target: int | None = None) -> list[int]:
    """Apply pending migrations up to `target` (default: all). Re-running is a no-op."""
    done = []
    for state, module in zip(status(db), MIGRATIONS):
        if state.applied_at is None and (target is None or module.VERSION <= target):
            module.up(db)
            db["migrations"].insert_one({"_id": module.VERSION, "name": module.NAME, "appliedAt": clock.now()})
            done.append(module.VERSION)
    return done


def down(db: Database, *, target: int | None = None) -> list[int]:
    """Revert applied migrations above `target` (default: only the latest)."""
    applied = [(s, m) for s, m in zip(status(db), MIGRATIONS) if s.applied_at is not None]
    if target is None:
        target = applied[-2][0].version if len(applied) > 1 else 0
    done = []
    for state, module in reversed(applied):
        if module.VERSION > target:
            module.down(db)
            db["migrations"].delete_one({"_id": module.VERSION})
            done.append(module.VERSION)
    return done
