"""The local stack's development API key: reused from FILE while it is still
valid in the database, else created (admin scope) and written to FILE.

Run with the app's environment: python -m scripts.devstack.devkey FILE
"""
from __future__ import annotations

import sys
from pathlib import Path

from chalicelib.db import get_database
from chalicelib.models.api_key import Scope
from chalicelib.repositories.api_keys import ApiKeyRepository
from chalicelib.services.api_keys import ApiKeyService, hash_key


def ensure(path: Path) -> str:
    repository = ApiKeyRepository(get_database())
    if path.exists():
        key = path.read_text().strip()
        stored = repository.find_by_hash(hash_key(key))
        if stored is not None and stored.revoked_at is None:
            return key
    _, key = ApiKeyService(repository).create("local development", [Scope.ADMIN])
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


if __name__ == "__main__":
    print(ensure(Path(sys.argv[1])))
