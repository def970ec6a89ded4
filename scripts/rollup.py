"""Rebuild analytics roll-ups: python scripts/rollup.py --from 2026-09-01 [--to 2026-09-30]

Rolls every UTC day in the range (default: up to today) from the calls, then
the weeks and months those days belong to. Idempotent: rebuilding a range
gives the same documents. Days older than RETENTION_DAYS are skipped: their
calls may be archived, and their documents are kept as they are. Needs
MONGODB_URI (and MONGODB_DB).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chalicelib import clock  # noqa: E402
from chalicelib.db import get_database  # noqa: E402
from chalicelib.repositories.analytics import AnalyticsRepository  # noqa: E402
from chalicelib.repositories.call_stats import CallStatsRepository  # noqa: E402
from chalicelib.services.rollups import RollupService  # noqa: E402
from chalicelib.settings import ConfigurationError, get_settings  # noqa: E402


def rollup_service(db) -> RollupService:
    return RollupService(CallStatsRepository(db), AnalyticsRepository(db),
                         retention_days=get_settings().retention_days)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="first", type=date.fromisoformat, required=True, help="first day (UTC)")
    parser.add_argument("--to", dest="last", type=date.fromisoformat, default=None, help="last day (default today)")
    args = parser.parse_args(argv)
    last = args.last or clock.now().date()
    if last < args.first:
        parser.error("--to is before --from")
    try:
        started = time.perf_counter()
        days = rollup_service(get_database()).rebuild(args.first, last)
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"rolled {len(days)} day(s) of {args.first}..{last} and their weeks and months "
          f"in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
