"""Importing a campaign's contacts: from CSV, a JSON array, or a Google Sheet.

Every source is turned into the same `ImportRow`s, and one path validates and
writes them:
  1. every row is checked (number normalised to E.164 in the request's region,
     email, name, customData limits); a bad row is reported, never written;
  2. a number given twice is merged into its first row;
  3. contacts are found by number, or created (an existing contact is reused:
     only its missing name/email is filled in);
  4. each number becomes a campaign contact: `pending`, due now, or `skipped`
     with skipReason `do_not_call` when the number is on the do-not-call list
     (the row is recorded so the skip is visible; it is never dialed);
  5. the campaign's stats count what was actually added.
Each step reads before it writes and the campaign contact is unique per
(campaign, contact), so a retry of the same import, even after a failure
half-way, adds nothing twice.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from .. import clock, timing
from ..errors import BadRequest, Conflict, NotFound, PayloadTooLarge, ValidationFailed
from ..ids import new_id
from ..models.campaign import ACCEPTS_CONTACTS, Campaign, CampaignContact, ContactStatus
from ..models.contact import Contact, ContactDetails
from ..phone import to_e164
from ..repositories.campaign_contacts import CampaignContactRepository
from ..repositories.base import chunked
from ..repositories.campaigns import CampaignRepository
from ..repositories.contacts import ContactRepository
from ..repositories.dnc import DncRepository
from .idempotency import Idempotency

# Lambda's synchronous payload limit; bigger lists belong in a sheet or in parts.
MAX_IMPORT_BYTES = 6 * 1024 * 1024
MAX_IMPORT_ROWS = 100_000
MAX_REJECTED_LISTED = 1000
MAX_CUSTOM_FIELDS = 50
MAX_KEY_LENGTH = 100
MAX_VALUE_LENGTH = 1000
MAX_NAME_LENGTH = 200
DO_NOT_CALL = "do_not_call"


@dataclass
class ImportRow:
    """One row as given. `row` is where the user finds it: the spreadsheet
    row (the header is row 1) for CSV and sheets, the 1-based position in a
    JSON array."""

    row: int
    phone: Any
    name: Any = None
    email: Any = None
    custom_data: dict[str, Any] = field(default_factory=dict)
    sheet_row: int | None = None
    problem: tuple[str, str] | None = None     # (field, reason) found while reading it


@dataclass
class ImportReport:
    rows_total: int = 0
    added: int = 0
    duplicates_merged: int = 0
    do_not_call: int = 0
    contacts_created: int = 0
    rejected_count: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.rows_total - self.rejected_count

    def reject(self, row: int, field_name: str, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REJECTED_LISTED:
            self.rejected.append({"row": row, "field": field_name, "reason": reason})

    def to_api(self) -> dict[str, Any]:
        return {"rowsTotal": self.rows_total, "accepted": self.accepted, "added": self.added,
                "duplicatesMerged": self.duplicates_merged, "doNotCall": self.do_not_call,
                "contactsCreated": self.contacts_created, "rejectedCount": self.rejected_count,
                "rejected": self.rejected}


class _Rejected(Exception):
    def __init__(self, field_name: str, reason: str):
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class Columns:
    """Which headers hold the contact's own fields; the rest is customData."""

    phone: str = "phone"
    name: str | None = "name"
    email: str | None = "email"
    ignored: tuple[str, ...] = ()


# -- reading the sources ----------------------------------------------------------------------------

def rows_from_csv(text: str) -> list[ImportRow]:
    """A CSV with a header row. Header names are matched case-insensitively;
    blank lines are skipped but still counted, so row numbers match what a
    spreadsheet shows."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        return rows_from_table(reader, first_row=1, columns=Columns())
    except csv.Error as exc:
        raise ValidationFailed(f"the CSV cannot be read: {exc}", field="body") from None


def rows_from_table(table: Iterable[list[str]], *, first_row: int, columns: Columns) -> list[ImportRow]:
    """Rows of cells whose first row is the header, at spreadsheet row
    `first_row`. Leading blank rows before the header are not expected."""
    rows_iter = iter(table)
    header = next(rows_iter, None)
    if header is None or not any(cell.strip() for cell in header):
        raise ValidationFailed(f"a header row with a '{columns.phone}' column is required", field=columns.phone)
    names = [cell.strip() for cell in header]
    index = _header_index(names, columns)
    custom = [(i, name) for i, name in enumerate(names)
              if name and i not in index.values() and name.lower() not in columns.ignored]
    _check_custom_headers([name for _, name in custom])
    rows: list[ImportRow] = []
    for number, cells in enumerate(rows_iter, start=first_row + 1):
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) >= MAX_IMPORT_ROWS:
            raise PayloadTooLarge(f"at most {MAX_IMPORT_ROWS:,} rows per import: split the file or use a sheet")
        cell = lambda i: cells[i].strip() if i is not None and i < len(cells) else ""   # noqa: E731
        rows.append(ImportRow(row=number, phone=cell(index["phone"]), name=cell(index.get("name")) or None,
                              email=cell(index.get("email")) or None,
                              custom_data={name: cell(i) for i, name in custom}))
    return rows


def _header_index(names: list[str], columns: Columns) -> dict[str, int]:
    lowered = [name.lower() for name in names]
    repeated = sorted({name for name in lowered if name and lowered.count(name) > 1})
    if repeated:
        raise ValidationFailed(f"column '{repeated[0]}' appears more than once", field=repeated[0])
    index: dict[str, int] = {}
    for role in ("phone", "name", "email"):
        header = getattr(columns, role)
        if header and header.strip().lower() in lowered:
            index[role] = lowered.index(header.strip().lower())
    if "phone" not in index:
        raise ValidationFailed(f"the header row has no '{columns.phone}' column", field=columns.phone)
    return index


def _check_custom_headers(names: list[str]) -> None:
    if len(names) > MAX_CUSTOM_FIELDS:
        raise ValidationFailed(f"at most {MAX_CUSTOM_FIELDS} columns besides phone, name and email",
                               field="customData")
    for name in names:
        if reason := _bad_key(name):
            raise ValidationFailed(f"column '{name[:MAX_KEY_LENGTH]}': {reason}", field=name[:MAX_KEY_LENGTH])


def rows_from_json(items: Any) -> list[ImportRow]:
    """A JSON array of objects: `phone` (required), `name`, `email`, and
    `customData` (an object); any other key goes into customData too, like
    a CSV column (an explicit customData key wins)."""
    if not isinstance(items, list):
        raise ValidationFailed("the body must be a JSON array of contacts", field="body")
    if len(items) > MAX_IMPORT_ROWS:
        raise PayloadTooLarge(f"at most {MAX_IMPORT_ROWS:,} contacts per import: split the list or use a sheet")
    rows = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            rows.append(ImportRow(row=position, phone=None, problem=("row", "each item must be an object")))
            continue
        extra = {k: v for k, v in item.items() if k not in ("phone", "name", "email", "customData")}
        given = item.get("customData")
        problem = None
        if given is not None and not isinstance(given, dict):
            given, problem = None, ("customData", "must be an object")
        rows.append(ImportRow(row=position, phone=item.get("phone"), name=item.get("name"),
                              email=item.get("email"), custom_data=extra | (given or {}), problem=problem))
    return rows


# -- checking one row --------------------------------------------------------------------------------

def _bad_key(key: Any) -> str | None:
    if not isinstance(key, str) or not key.strip():
        return "a name is required"
    if len(key) > MAX_KEY_LENGTH:
        return f"names are at most {MAX_KEY_LENGTH} characters"
    if key.startswith("$") or "." in key:
        return "names cannot start with '$' or contain '.'"
    return None


def _check_row(row: ImportRow, region: str,
               parsed: dict[str, str]) -> tuple[str, str | None, str | None, dict[str, Any]]:
    if row.problem:
        raise _Rejected(*row.problem)
    if row.phone is None or (isinstance(row.phone, str) and not row.phone.strip()):
        raise _Rejected("phone", "a phone number is required")
    if not isinstance(row.phone, str):
        raise _Rejected("phone", "must be a string")
    phone = parsed.get(row.phone)
    if phone is None:
        try:
            phone = parsed[row.phone] = to_e164(row.phone, default_region=region, field="phone")
        except ValidationFailed as exc:
            raise _Rejected("phone", exc.message) from None
    name = _text(row.name, "name", MAX_NAME_LENGTH)
    email = _text(row.email, "email", 254)
    if email:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise _Rejected("email", f"not an email address: {exc}") from None
    return phone, name, email, _custom(row.custom_data)


def _text(value: Any, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Rejected(name, "must be a string")
    value = value.strip()
    if len(value) > limit:
        raise _Rejected(name, f"at most {limit} characters")
    return value or None


def _custom(data: dict[str, Any]) -> dict[str, Any]:
    """customData are the agent's dynamic variables: a flat object of
    strings, numbers, booleans or nulls."""
    if len(data) > MAX_CUSTOM_FIELDS:
        raise _Rejected("customData", f"at most {MAX_CUSTOM_FIELDS} fields")
    for key, value in data.items():
        if reason := _bad_key(key):
            raise _Rejected("customData", f"field '{str(key)[:MAX_KEY_LENGTH]}': {reason}")
        if isinstance(value, str):
            if len(value) > MAX_VALUE_LENGTH:
                raise _Rejected(f"customData.{key}", f"at most {MAX_VALUE_LENGTH} characters")
        elif isinstance(value, float) and not math.isfinite(value):
            raise _Rejected(f"customData.{key}", "must be a finite number")
        elif value is not None and not isinstance(value, (bool, int, float)):
            raise _Rejected(f"customData.{key}", "must be a string, number, boolean or null")
    return data


def _json(text: str) -> Any:
    try:
        return json.loads(text.removeprefix("\ufeff"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadRequest("the request body is not valid JSON") from None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def check_region(region: str | None, default: str) -> str:
    region = (region or default).strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationFailed("must be an ISO 3166 two-letter region code (e.g. US, GB)", field="region")
    return region


# -- the import -------------------------------------------------------------------------------------

class ImportService:
    def __init__(self, *, campaigns: CampaignRepository, campaign_contacts: CampaignContactRepository,
                 contacts: ContactRepository, dnc: DncRepository, default_region: str,
                 idempotency: Idempotency | None = None):
        self._idempotency = idempotency
        self._campaigns = campaigns
        self._rows = campaign_contacts
        self._contacts = contacts
        self._dnc = dnc
        self._region = default_region

    def open_campaign(self, campaign_id: str) -> Campaign:
        """The campaign, if contacts may still be added to it."""
        campaign = self._campaigns.get(campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {campaign_id}", field="campaignId")
        if campaign.status not in ACCEPTS_CONTACTS:
            raise Conflict(f"contacts cannot be added to a {campaign.status} campaign", field="status")
        return campaign

    def import_upload(self, campaign_id: str, text: str, *, csv_format: bool, region: str | None,
                      idempotency_key: str | None = None) -> tuple[dict[str, Any], bool]:
        """An uploaded CSV or JSON text → (report, replayed). The import is
        safe to run twice anyway; with an Idempotency-Key a replay of the
        same body answers the first report instead of "nothing added"."""
        request = {"campaignId": campaign_id, "region": region, "csv": csv_format,
                   "body": hashlib.sha256(text.encode()).hexdigest()}
        if self._idempotency and (earlier := self._idempotency.replay("contacts-import", idempotency_key, request)):
            return earlier, True
        if csv_format:
            report = self.import_csv(campaign_id, text, region=region)
        else:
            report = self.import_json(campaign_id, _json(text), region=region)
        body = report.to_api()
        if self._idempotency:
            self._idempotency.remember("contacts-import", idempotency_key, body)
        return body, False

    def import_csv(self, campaign_id: str, text: str, *, region: str | None = None) -> ImportReport:
        self.open_campaign(campaign_id)
        return self.import_rows(campaign_id, rows_from_csv(text), region=region, source="import")

    def import_json(self, campaign_id: str, items: Any, *, region: str | None = None) -> ImportReport:
        self.open_campaign(campaign_id)
        return self.import_rows(campaign_id, rows_from_json(items), region=region, source="import")

    def import_rows(self, campaign_id: str, rows: list[ImportRow], *, region: str | None,
                    source: str) -> ImportReport:
        region = check_region(region, self._region)
        self.open_campaign(campaign_id)
        report = ImportReport(rows_total=len(rows))
        checked: dict[str, tuple[ImportRow, str | None, str | None, dict[str, Any]]] = {}
        parsed: dict[str, str] = {}     # the same text twice is parsed once
        for row in rows:
            try:
                phone, name, email, custom = _check_row(row, region, parsed)
            except _Rejected as exc:
                report.reject(row.row, exc.field, exc.reason)
                continue
            if phone in checked:        # the first row with a number wins
                report.duplicates_merged += 1
                continue
            checked[phone] = (row, name, email, custom)

        now = clock.now()

        def new_contact(phone: str) -> Contact:
            _, name, email, _ = checked[phone]
            return Contact(id=new_id("ctc"), created_at=now, updated_at=now, phone=phone, name=name, email=email,
                           details=ContactDetails(timezone=timing.single_zone(phone)), source=source)

        contact_ids, report.contacts_created = self._contacts.ensure_many(
            {phone: (name, email) for phone, (_, name, email, _) in checked.items()}, new_contact)
        listed = self._dnc.listed_among(list(checked))

        added_pending = added_skipped = 0
        for chunk in chunked(list(checked), 1000):     # built and written per chunk: bounded memory
            pending, skipped = [], []
            for phone in chunk:
                row, _, _, custom = checked[phone]
                blocked = phone in listed
                (skipped if blocked else pending).append(CampaignContact(
                    id=new_id("cct"), created_at=now, updated_at=now, campaign_id=campaign_id,
                    contact_id=contact_ids[phone], phone=phone,
                    status=ContactStatus.SKIPPED if blocked else ContactStatus.PENDING,
                    skip_reason=DO_NOT_CALL if blocked else None, next_attempt=None if blocked else now,
                    custom_data=custom, sheet_row=row.sheet_row))
            added_pending += self._rows.add_many(pending)[0]
            added_skipped += self._rows.add_many(skipped)[0]
            report.do_not_call += len(skipped)
        report.added = added_pending + added_skipped
        report.duplicates_merged += len(checked) - report.added
        # A skipped contact is final at once: it counts as finished unreached.
        self._campaigns.add_to_stats(campaign_id, {"totalContacts": report.added, "contactsFailed": added_skipped},
                                     now=now)
        self._after_write(campaign_id)
        return report

    def _after_write(self, campaign_id: str) -> None:
        """A campaign cancelled while its import ran must not keep contacts
        waiting to be dialed: they are cancelled like the others were."""
        campaign = self._campaigns.get(campaign_id)
        if campaign is not None and campaign.status not in ACCEPTS_CONTACTS:
            self._rows.cancel_pending(campaign_id, now=clock.now())
            raise Conflict(f"the campaign became {campaign.status} during the import; "
                           "the contacts it added will not be called", field="status")
