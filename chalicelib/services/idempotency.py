"""Idempotency-Key handling shared by every POST that creates something."""
from __future__ import annotations

import hashlib
import json

from .. import clock
from ..errors import ValidationFailed
from ..repositories.idempotency import IdempotencyRepository

MAX_KEY_LENGTH = 255


def check_key(key: str | None) -> str | None:
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise ValidationFailed(f"must be 1 to {MAX_KEY_LENGTH} characters", field="Idempotency-Key")
    return key


class Idempotency:
    def __init__(self, keys: IdempotencyRepository):
        self._keys = keys

    def claim(self, scope: str, key: str | None, request: dict, new_id: str) -> tuple[str, bool]:
        """The id to create the resource under, and whether an earlier request
        with this key already did. The same key with a different request is
        an error; a first attempt that died before creating its resource
        leaves its id, which the retry then uses."""
        if not key:
            return new_id, False
        request_hash = _hash(request)
        earlier = self._keys.reserve(f"{scope}:{key}", request_hash=request_hash, resource_id=new_id,
                                     now=clock.now())
        if earlier is None:
            return new_id, False
        if earlier.request_hash != request_hash:
            raise ValidationFailed("this Idempotency-Key was already used with a different request",
                                   field="Idempotency-Key")
        return earlier.resource_id, True

    def replay(self, scope: str, key: str | None, request: dict) -> dict | None:
        """For operations that are safe to run again but should answer a
        replay as they answered first (imports): the stored answer for this
        key, or None when there is none yet (first use, or the first request
        did not finish: then it simply runs again)."""
        if not key:
            return None
        request_hash = _hash(request)
        earlier = self._keys.reserve(f"{scope}:{key}", request_hash=request_hash, resource_id="", now=clock.now())
        if earlier is None:
            return None
        if earlier.request_hash != request_hash:
            raise ValidationFailed("this Idempotency-Key was already used with a different request",
                                   field="Idempotency-Key")
        return earlier.result

    def remember(self, scope: str, key: str | None, result: dict) -> None:
        if key:
            self._keys.save_result(f"{scope}:{key}", result)


def _hash(request: dict) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
