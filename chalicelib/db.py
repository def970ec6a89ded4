"""The MongoDB connection: one client per Lambda container, created on first use.

Configured as MongoDB's Lambda guidance says: a small pool that may shrink to
nothing while the container is frozen, and a short server-selection timeout so
a database outage surfaces as a 503 long before API Gateway's 29 s limit.
"""
from __future__ import annotations

import threading

from pymongo import MongoClient
from pymongo.database import Database

from .settings import get_settings

_lock = threading.Lock()
_client: MongoClient | None = None


def get_client() -> MongoClient:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                settings = get_settings()
                _client = MongoClient(
                    settings.mongodb_uri,
                    tz_aware=True,
                    maxPoolSize=settings.mongodb_max_pool_size,
                    minPoolSize=0,
                    maxIdleTimeMS=30_000,
                    serverSelectionTimeoutMS=settings.mongodb_server_selection_timeout_ms,
                    appname="outdial",
                )
    return _client


def get_database() -> Database:
    return get_client()[get_settings().mongodb_db]


def reset_client() -> None:
    """Close the client (tests point MONGODB_URI somewhere else)."""
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None
