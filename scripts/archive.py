"""Retention archive by hand: python scripts/archive.py run | restore COLLECTION --from DAY [--to DAY]

  run       what the archive_old_data schedule does: export documents past
            retention to ARCHIVE_BUCKET, verify, delete
  restore   put the archived documents of a collection (calls, call_events,
            transcripts, recordings) for the given UTC days back into MongoDB;
            safe to repeat (documents are replaced by id)
Needs MONGODB_URI and ARCHIVE_BUCKET (locally `make run` creates the bucket in moto).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chalicelib.archive_store import ArchiveStore  # noqa: E402
from chalicelib.db import get_database  # noqa: E402
from chalicelib.repositories.archive import ARCHIVED, ArchiveRepository  # noqa: E402
from chalicelib.services.archive import ArchiveService  # noqa: E402
from chalicelib.settings import ConfigurationError, get_settings  # noqa: E402


def archive_service() -> ArchiveService:
    s = get_settings()
    return ArchiveService(ArchiveRepository(get_database()), ArchiveStore(s.archive_bucket),
                          chunk_size=s.archive_chunk_size, retention_days=s.retention_days,
                          events_retention_days=s.call_events_retention_days,
                          time_budget_seconds=s.archive_time_budget_seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run")
    restore = commands.add_parser("restore")
    restore.add_argument("collection", choices=sorted(ARCHIVED))
    restore.add_argument("--from", dest="first", type=date.fromisoformat, required=True)
    restore.add_argument("--to", dest="last", type=date.fromisoformat, default=None)
    args = parser.parse_args(argv)
    try:
        service = archive_service()
        if args.command == "run":
            print(json.dumps(service.run()))
        else:
            count = service.restore(args.collection, args.first, args.last or args.first)
            print(f"restored {count} {args.collection} document(s)")
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
