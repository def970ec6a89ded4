"""Manage API keys: python scripts/apikeys.py create|list|revoke

  create --name NAME --scope calls:write [--scope ...]   prints the key once
  list                                                   names, scopes, last use
  revoke KEY_ID
Scopes: calls:read calls:write agents:read agents:write campaigns:read campaigns:write admin
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chalicelib.db import get_database  # noqa: E402
from chalicelib.models.api_key import Scope  # noqa: E402
from chalicelib.repositories.api_keys import ApiKeyRepository  # noqa: E402
from chalicelib.services.api_keys import ApiKeyService  # noqa: E402
from chalicelib.settings import ConfigurationError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", required=True, choices=[s.value for s in Scope])
    commands.add_parser("list")
    revoke = commands.add_parser("revoke")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)
    try:
        service = ApiKeyService(ApiKeyRepository(get_database()))
        if args.command == "create":
            key, secret = service.create(args.name, [Scope(s) for s in args.scope])
            print(f"created {key.id} ({key.name}) with scopes {', '.join(key.scopes)}")
            print(f"key (shown once, keep it safe): {secret}")
        elif args.command == "list":
            for key in service.list():
                state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
                used = key.last_used_at.isoformat() if key.last_used_at and key.last_used_at.year > 1970 else "never"
                print(f"{key.id}  {key.prefix}…  {key.name:20s} {','.join(key.scopes):40s} {state:18s} used {used}")
        elif not service.revoke(args.key_id):
            print(f"no active key {args.key_id}", file=sys.stderr)
            return 1
        else:
            print(f"revoked {args.key_id}")
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
