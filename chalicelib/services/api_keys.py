"""Creating, checking and revoking API keys."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from .. import clock
from ..clock import EPOCH
from ..ids import new_id
from ..models.api_key import ApiKey, Scope
from ..repositories.api_keys import ApiKeyRepository

KEY_PREFIX = "odk_"
TOUCH_EVERY = timedelta(minutes=1)


class Unauthenticated(Exception):
    pass


class Forbidden(Exception):
    pass


def hash_key(key: str) -> str:
    # Keys are 256-bit random secrets, so a plain SHA-256 is enough (no
    # password stretching needed) and lets a key be found by its hash.
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyService:
    def __init__(self, keys: ApiKeyRepository):
        self._keys = keys

    def create(self, name: str, scopes: list[Scope]) -> tuple[ApiKey, str]:
        """The new key's record, and the key itself (shown once, never stored)."""
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        now = clock.now()
        key = ApiKey(id=new_id("key"), created_at=now, updated_at=now, name=name, scopes=scopes,
                     key_hash=hash_key(secret), prefix=secret[:10], last_used_at=EPOCH)
        self._keys.insert(key)
        return key, secret

    def authenticate(self, presented: str | None, scope: Scope) -> ApiKey:
        if not presented:
            raise Unauthenticated("an API key is required: Authorization: Bearer <key>")
        digest = hash_key(presented)
        key = self._keys.find_by_hash(digest)
        # compare_digest keeps the final check constant-time, whatever matched.
        if key is None or not hmac.compare_digest(key.key_hash, digest) or key.revoked_at is not None:
            raise Unauthenticated("unknown or revoked API key")
        if not key.allows(scope):
            raise Forbidden(f"this API key lacks the {scope.value} scope")
        now = clock.now()
        self._keys.touch(key.id, now=now, if_before=now - TOUCH_EVERY)
        return key

    def list(self) -> list[ApiKey]:
        return self._keys.list()

    def revoke(self, key_id: str) -> bool:
        return self._keys.revoke(key_id, now=clock.now())
