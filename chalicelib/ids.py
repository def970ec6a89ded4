"""Prefixed, time-ordered string ids (`call_…`, `agt_…`).

Strings rather than ObjectIds: they read well in logs and URLs, and the
embedded test server mishandles ObjectIds in queries. Like a ULID, the first
12 hex digits are the creation time in milliseconds and the rest is random;
within one process ids are strictly increasing, so ids made in the same
millisecond still sort in creation order.
"""
from __future__ import annotations

import secrets
import threading
import time

_lock = threading.Lock()
_last = (0, 0)


def new_id(prefix: str) -> str:
    global _last
    with _lock:
        ms, rand = int(time.time() * 1000), secrets.randbits(64)
        last_ms, last_rand = _last
        if ms <= last_ms:
            ms, rand = last_ms, last_rand + 1
        _last = (ms, rand)
    return f"{prefix}_{ms:012x}{rand & (2**64 - 1):016x}"
