"""A campaign's Google Sheet (seed 002 `sheetIntegration`): its rows are
imported as the campaign's contacts, and each contact's status is written
back to the sheet's `statusColumn`, on the contact's own row.

The row a contact came from is kept on its campaign contact (`sheetRow`).
People sort and insert rows in sheets, so before writing, the phone cell of
that row is checked to still hold the contact's number; if it does not, the
phone column is searched, and a contact no longer in the sheet is left out.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Callable, Iterable

import phonenumbers

from .. import clock
from ..clock import EPOCH
from ..errors import NotFound, ServiceUnavailable, ValidationFailed
from ..models.campaign import Campaign, CampaignContact, CampaignStatus, SheetIntegration
from ..providers.sheets import SheetsClient, SheetsError, a1_sheet, column_letter
from ..repositories.campaign_contacts import CampaignContactRepository
from ..repositories.campaigns import CampaignRepository
from ..settings import ConfigurationError
from .imports import MAX_IMPORT_ROWS, Columns, ImportReport, ImportService, rows_from_table

log = logging.getLogger(__name__)
WRITES_PER_REQUEST = 1000
LATE_CALLS = timedelta(hours=2)   # calls in progress when a campaign is cancelled still end
SYNCED_STATUSES = (CampaignStatus.ACTIVE, CampaignStatus.PAUSED, CampaignStatus.COMPLETED, CampaignStatus.CANCELLED)


class SheetSync:
    def __init__(self, *, campaigns: CampaignRepository, campaign_contacts: CampaignContactRepository,
                 imports: ImportService, client: Callable[[], SheetsClient]):
        self._campaigns = campaigns
        self._rows = campaign_contacts
        self._imports = imports
        self._client = client      # built on first use: most requests never need Google

    def import_sheet(self, campaign_id: str, *, region: str | None = None) -> ImportReport:
        """Import every row of the campaign's sheet, exactly as a CSV upload
        of it would be, remembering each contact's row."""
        sheet = _integration(self._imports.open_campaign(campaign_id))
        header = sheet.header_row
        values = self._read(sheet, f"{a1_sheet(sheet.sheet_id)}!{header}:{header + MAX_IMPORT_ROWS}")
        rows = rows_from_table(values, first_row=header, columns=_columns(sheet))
        for row in rows:
            row.sheet_row = row.row
        report = self._imports.import_rows(campaign_id, rows, region=region, source="sheet")
        self._campaigns.set_sheet_sync(campaign_id, clock.now())
        return report

    def write_status(self, campaign_id: str, contact: CampaignContact) -> int:
        return self.write_statuses(campaign_id, [contact])

    def write_statuses(self, campaign_id: str, contacts: Iterable[CampaignContact]) -> int:
        """Write each contact's current status to its row's statusColumn.
        Returns how many cells were written (0 when the campaign has no sheet
        or no statusColumn, or the contacts did not come from it). Raises
        SheetsError when Google refuses or cannot be reached, or Sheets is
        not configured: the caller decides whether to try again (writing the
        same status twice is harmless)."""
        campaign = self._campaigns.get(campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {campaign_id}", field="campaignId")
        sheet = campaign.sheet_integration
        targets = [c for c in contacts if c.sheet_row]
        if sheet is None or not sheet.status_column or not targets:
            return 0
        try:
            client = self._client()
        except ConfigurationError as exc:   # one error type for the caller to handle
            raise SheetsError(str(exc)) from None
        title, header_row = a1_sheet(sheet.sheet_id), sheet.header_row
        header = [cell.strip().lower() for cell in next(iter(client.read_values(
            sheet.spreadsheet_id, f"{title}!{header_row}:{header_row}")), [])]
        status_at = _find(header, sheet.status_column)
        phone_at = _find(header, sheet.phone_column)
        phone_letter = column_letter(phone_at)
        cells = [row[0] if row else "" for row in client.read_values(
            sheet.spreadsheet_id, f"{title}!{phone_letter}{header_row + 1}:{phone_letter}")]
        locate = _Locator(cells, first_row=header_row + 1)
        updates = []
        for contact in targets:
            row = locate(contact.phone, contact.sheet_row)
            if row is not None:
                updates.append((f"{title}!{column_letter(status_at)}{row}", [[status_text(contact)]]))
        for start in range(0, len(updates), WRITES_PER_REQUEST):
            client.update_values(sheet.spreadsheet_id, updates[start:start + WRITES_PER_REQUEST])
        return len(updates)

    def write_recent_statuses(self, now: datetime | None = None) -> dict[str, int]:
        """The scheduled write-back: for every running campaign with a status
        column, the statuses that changed since its last write, in one batch
        per campaign (Sheets allows ~60 requests a minute). A campaign whose
        write fails is tried again from the same point next time."""
        now = now or clock.now()
        written = failed = 0
        for campaign in self._campaigns.with_sheet_statuses(SYNCED_STATUSES):
            since = campaign.sheet_integration.last_status_sync or EPOCH
            if campaign.ended_at and since > campaign.ended_at + LATE_CALLS:
                continue   # over, and its last calls are written
            try:
                written += self.write_statuses(campaign.id, self._rows.from_sheet_changed_since(campaign.id, since))
            except SheetsError as exc:
                failed += 1
                log.warning("campaign %s: sheet status write-back failed: %s", campaign.id, exc)
                continue
            self._campaigns.set_status_sync(campaign.id, now)
        return {"written": written, "failed": failed}

    def sync_statuses(self, campaign_id: str) -> int:
        """Write every sheet contact's status (a full reconciliation)."""
        try:
            return self.write_statuses(campaign_id, self._rows.from_sheet(campaign_id))
        except SheetsError as exc:
            raise _api_error(exc, self._account()) from None

    def _read(self, sheet: SheetIntegration, range_: str) -> list[list[str]]:
        client = self._client()
        try:
            return client.read_values(sheet.spreadsheet_id, range_)
        except SheetsError as exc:
            raise _api_error(exc, client.account) from None

    def _account(self) -> str:
        return self._client().account


def status_text(contact: CampaignContact) -> str:
    """What the sheet shows: the status, and why for skipped or failed."""
    reason = contact.skip_reason
    if contact.status == "failed" and contact.call_results:
        reason = contact.call_results[-1].failure_reason or contact.call_results[-1].status
    return f"{contact.status} ({reason})" if reason else str(contact.status)


class _Locator:
    """The row of a number in the phone column: its remembered row if that
    cell still holds the number, else wherever it is now (or None)."""

    def __init__(self, cells: list[str], *, first_row: int):
        self._cells = cells
        self._first = first_row
        self._by_tail: dict[int, dict[str, int]] = {}    # per number length: last digits -> offset

    def __call__(self, phone: str, remembered: int) -> int | None:
        national = _national(phone)
        at = remembered - self._first
        if 0 <= at < len(self._cells) and _same_number(self._cells[at], national):
            return remembered
        size = len(national)
        if size not in self._by_tail:
            self._by_tail[size] = {}
            for offset, cell in enumerate(self._cells):
                self._by_tail[size].setdefault(_digits(cell)[-size:], offset)
        offset = self._by_tail[size].get(national)
        if offset is not None and _same_number(self._cells[offset], national):
            return self._first + offset
        return None


def _national(e164: str) -> str:
    return phonenumbers.national_significant_number(phonenumbers.parse(e164))


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text or "")


def _same_number(cell: str, national: str) -> bool:
    """However the cell writes it (national, international, with a trunk
    prefix), its digits end with the number's national significant number
    and carry at most a country code and trunk prefix before it."""
    digits = _digits(cell)
    return digits.endswith(national) and len(digits) - len(national) <= 4


def _find(header: list[str], column: str) -> int:
    try:
        return header.index(column.strip().lower())
    except ValueError:
        raise SheetsError(f"the sheet has no '{column}' column in its header row", status=400) from None


def _integration(campaign: Campaign) -> SheetIntegration:
    if campaign.sheet_integration is None:
        raise ValidationFailed("the campaign has no sheetIntegration", field="sheetIntegration")
    return campaign.sheet_integration


def _columns(sheet: SheetIntegration) -> Columns:
    return Columns(phone=sheet.phone_column, name=sheet.name_column or "name", email="email",
                   ignored=(sheet.status_column.strip().lower(),) if sheet.status_column else ())


def _api_error(exc: SheetsError, account: str):
    if exc.status == 403:
        return ValidationFailed(f"the service account cannot open this spreadsheet: share it with {account}",
                                field="sheetIntegration.spreadsheetId")
    if exc.status == 404:
        return ValidationFailed("no such spreadsheet", field="sheetIntegration.spreadsheetId")
    if exc.status == 400:
        return ValidationFailed(exc.message, field="sheetIntegration.sheetId")
    log.warning("Google Sheets failed: %s", exc.message)
    return ServiceUnavailable("Google Sheets is unavailable, try again shortly", retry_after=30)
