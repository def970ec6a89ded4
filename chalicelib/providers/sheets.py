"""Google Sheets, behind a two-method interface: read a range's values, write
ranges' values. `GoogleSheetsClient` speaks the Sheets API v4 with a service
account (google-auth signs a JWT and trades it for an access token at the
account's `token_uri`); locally and in tests both the token endpoint and the
API are scripts/devstack/fake_sheets.py.

API reference: spreadsheets.values.get (GET /v4/spreadsheets/{id}/values/{range})
and spreadsheets.values.batchUpdate (POST /v4/spreadsheets/{id}/values:batchUpdate).
"""
from __future__ import annotations

import re
from typing import Any, Protocol
from urllib.parse import quote

SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
GOOGLE_SHEETS_API = "https://sheets.googleapis.com"


class SheetsError(Exception):
    """The Sheets API refused or could not answer. `status` is its HTTP
    status (403: the sheet is not shared with the service account, 404: no
    such spreadsheet, 400: a bad range or sheet name); None when it could
    not be reached or no token could be had."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class SheetsClient(Protocol):
    account: str     # who the sheet must be shared with (the service account's email)

    def read_values(self, spreadsheet_id: str, range_: str) -> list[list[str]]:
        """Rows of formatted cell values; trailing empty rows and cells are
        left out, as the API does."""
        ...

    def update_values(self, spreadsheet_id: str, updates: list[tuple[str, list[list[str]]]]) -> None:
        """Write each (range, rows of values) as typed (RAW), in one request."""
        ...


def a1_sheet(title: str) -> str:
    """A sheet title as A1 notation wants it: quoted, quotes doubled."""
    return "'" + title.replace("'", "''") + "'"


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


class GoogleSheetsClient:
    def __init__(self, service_account_info: dict[str, Any], *, api_url: str = GOOGLE_SHEETS_API,
                 timeout: float = 20.0):
        # Imported here: every Lambda imports the app, few ever touch a sheet.
        from google.auth.transport.requests import AuthorizedSession
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_info(service_account_info, scopes=SCOPES)
        self.account = credentials.service_account_email
        self._session = AuthorizedSession(credentials)
        self._api = api_url.rstrip("/")
        self._timeout = timeout

    def read_values(self, spreadsheet_id: str, range_: str) -> list[list[str]]:
        body = self._call("GET", f"{self._spreadsheet(spreadsheet_id)}/values/{quote(range_, safe='')}",
                          params={"majorDimension": "ROWS", "valueRenderOption": "FORMATTED_VALUE"})
        return [[_text(cell) for cell in row] for row in body.get("values", [])]

    def update_values(self, spreadsheet_id: str, updates: list[tuple[str, list[list[str]]]]) -> None:
        if not updates:
            return
        self._call("POST", f"{self._spreadsheet(spreadsheet_id)}/values:batchUpdate", json={
            "valueInputOption": "RAW",
            "data": [{"range": range_, "majorDimension": "ROWS", "values": values} for range_, values in updates],
        })

    def _spreadsheet(self, spreadsheet_id: str) -> str:
        return f"{self._api}/v4/spreadsheets/{quote(spreadsheet_id, safe='')}"

    def _call(self, method: str, url: str, **kwargs) -> dict[str, Any]:
        import google.auth.exceptions
        import requests

        try:
            response = self._session.request(method, url, timeout=self._timeout, **kwargs)
        except google.auth.exceptions.GoogleAuthError as exc:
            raise SheetsError(f"no Google access token: {_first_line(exc)}") from None
        except requests.RequestException as exc:
            raise SheetsError(f"the Sheets API could not be reached: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise SheetsError(_error_message(response), status=response.status_code)
        return response.json() if response.content else {}


def _text(cell: Any) -> str:
    return cell if isinstance(cell, str) else str(cell)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _error_message(response) -> str:
    """Google's error body: {"error": {"code", "message", "status"}}."""
    try:
        error = response.json().get("error", {})
        message = error.get("message") or response.reason
    except ValueError:
        message = response.reason
    return re.sub(r"\s+", " ", f"Sheets API {response.status_code}: {message}")[:300]
