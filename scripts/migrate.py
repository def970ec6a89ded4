"""Apply or revert schema migrations: python scripts/migrate.py up|down|status [--to N]."""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chalicelib import migrations  # noqa: E402
from chalicelib.db import get_database  # noqa: E402
from chalicelib.settings import ConfigurationError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--to", type=int, default=None, help="target version")
    args = parser.parse_args(argv)
    try:
        db = get_database()
        if args.command == "up":
            done = migrations.up(db, target=args.to)
            print(f"applied: {done or 'nothing (up to date)'}")
        elif args.command == "down":
            done = migrations.down(db, target=args.to)
            print(f"reverted: {done or 'nothing'}")
        for state in migrations.status(db):
            mark = state.applied_at.isoformat() if state.applied_at else "pending"
            print(f"{state.version:04d} {state.name}: {mark}")
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
