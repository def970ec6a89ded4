"""The do-not-call list."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from .. import clock
from ..errors import NotFound, ValidationFailed
from ..models.dnc import DncCreate, DncEntry
from ..phone import to_e164
from ..repositories.base import Page
from ..repositories.dnc import DncRepository

MAX_IMPORT_ROWS = 100_000


@dataclass
class ImportReport:
    rows: int = 0
    added: int = 0
    already_listed: int = 0
    rejected: list[dict] = field(default_factory=list)

    def to_api(self) -> dict:
        return {"rows": self.rows, "added": self.added, "alreadyListed": self.already_listed,
                "rejected": self.rejected}


class DncService:
    def __init__(self, dnc: DncRepository, *, default_region: str):
        self._dnc = dnc
        self._region = default_region

    def add(self, data: DncCreate) -> tuple[DncEntry, bool]:
        phone = to_e164(data.phone, default_region=self._region, field="phone")
        entry = DncEntry(id=phone, created_at=clock.now(), reason=data.reason)
        if self._dnc.add(entry):
            return entry, True
        return self._dnc.get(phone), False

    def remove(self, raw: str) -> None:
        phone = to_e164(raw, default_region=self._region, field="phone")
        if not self._dnc.remove(phone):
            raise NotFound("this number is not on the do-not-call list", field="phone")

    def list(self, *, limit: int, cursor: str | None) -> Page[DncEntry]:
        return self._dnc.list(limit=limit, cursor=cursor)

    def blocks(self, phone: str) -> bool:
        return self._dnc.contains(phone)

    def blocked_among(self, phones: list[str]) -> set[str]:
        """The listed numbers among `phones` (E.164), in a few queries."""
        return self._dnc.listed_among(phones)

    def import_csv(self, text: str) -> ImportReport:
        """A CSV with a `phone` column (and optionally `reason`). Every row is
        checked; bad rows are reported with their line and reason, good ones
        added. Re-running the same file adds nothing twice."""
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        if "phone" not in columns:
            raise ValidationFailed("the CSV needs a header row with a 'phone' column", field="phone")
        report, entries, seen = ImportReport(), [], set()
        now = clock.now()
        for row in reader:
            line = reader.line_num   # the file's own line, blank lines included
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            if not any(row.values()):
                continue
            report.rows += 1
            if report.rows > MAX_IMPORT_ROWS:
                raise ValidationFailed(f"at most {MAX_IMPORT_ROWS} rows per import", field="body")
            try:
                phone = to_e164(row.get("phone", ""), default_region=self._region, field="phone")
            except ValidationFailed as exc:
                report.rejected.append({"line": line, "phone": row.get("phone", "")[:64], "reason": exc.message})
                continue
            if phone in seen:
                report.already_listed += 1
                continue
            seen.add(phone)
            entries.append(DncEntry(id=phone, created_at=now, reason=row.get("reason") or None, source="import"))
        report.added = self._dnc.add_many(entries)
        report.already_listed += len(entries) - report.added
        return report
