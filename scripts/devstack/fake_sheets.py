"""A local fake of Google's OAuth token endpoint and the Sheets API v4 values
methods, so sheet imports and status write-back run with no Google account
and no internet. It is a real HTTP server: the app's google-auth and requests
code runs unchanged against it.

  POST /token                                          service-account JWT grant (RFC 7523): the
                                                       assertion's RS256 signature is checked against
                                                       the key this fake generated, its `aud` against
                                                       this URL; answers {access_token, expires_in}
  GET  /v4/spreadsheets/{id}/values/{range}            values.get (majorDimension ROWS, formatted
                                                       values as strings; trailing empty rows and
                                                       cells left out, `values` absent when empty)
  PUT  /v4/spreadsheets/{id}/values/{range}            values.update (?valueInputOption=RAW|USER_ENTERED)
  POST /v4/spreadsheets/{id}/values:batchUpdate        values.batchUpdate {valueInputOption, data: [ValueRange]}

Errors use Google's shape {"error": {"code", "message", "status"}}: 401 without
a token this fake issued, 404 for an unknown spreadsheet, 403 for one not
shared with the service account, 400 for a range it cannot parse or a sheet
title it does not have.

Ranges are A1 notation: `Sheet1!A1:C9`, `'My sheet'!B2:B`, `Sheet1!5:100`,
`Sheet1` (the whole sheet).

Test and local control (no auth): PUT /_fake/spreadsheets/{id} {"sheets":
{title: rows}, "shared": true}, GET /_fake/spreadsheets/{id}, GET /_fake/health.

CLI: python -m scripts.devstack.fake_sheets --port 8031 --service-account-file .local/google-service-account.json
"""
from __future__ import annotations

import argparse
import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth addresses every service-account assertion to Google's token
# endpoint, whatever the key file's token_uri says; Google checks it.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
MAX_ROWS = 1_000_000
MAX_COLUMNS = 18_278       # ZZZ, the Sheets limit


class ApiError(Exception):
    STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "status": self.STATUS.get(self.code, "UNKNOWN")}}


def make_service_account(token_uri: str) -> tuple[dict[str, Any], str]:
    """A fresh service-account key file's contents, and its public key (PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    info = {
        "type": "service_account",
        "project_id": "outdial-local",
        "private_key_id": secrets.token_hex(20),
        "private_key": private_pem,
        "client_email": "outdial-local@outdial-local.iam.gserviceaccount.com",
        "client_id": str(secrets.randbelow(10**20)),
        "token_uri": token_uri,
    }
    return info, public_pem


# -- A1 notation ---------------------------------------------------------------------------------------

def column_index(letters: str) -> int:
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - ord("A") + 1
    return index - 1


def column_letters(index: int) -> str:
    letters, index = "", index + 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


_CELL = re.compile(r"^([A-Za-z]{0,3})([0-9]{0,7})$")


def parse_range(text: str, titles: list[str]) -> tuple[str, int, int, int, int]:
    """(sheet title, first row, first column, last row, last column), 0-based and inclusive."""
    if text.startswith("'"):
        end = 1
        while True:
            end = text.find("'", end)
            if end < 0:
                raise ApiError(400, f"Unable to parse range: {text}")
            if text[end:end + 2] == "''":
                end += 2
                continue
            break
        title, rest = text[1:end].replace("''", "'"), text[end + 1:]
        if rest and not rest.startswith("!"):
            raise ApiError(400, f"Unable to parse range: {text}")
        cells = rest[1:]
    elif "!" in text:
        title, cells = text.split("!", 1)
    elif text in titles:
        title, cells = text, ""
    else:
        title, cells = (titles[0] if titles else ""), text
    if title not in titles:
        raise ApiError(400, f"Unable to parse range: {text}")
    if not cells:
        return title, 0, 0, MAX_ROWS - 1, MAX_COLUMNS - 1
    start, _, end = cells.partition(":")
    first, last = _CELL.match(start), _CELL.match(end if end else start)
    if not first or not last or not start or (":" in cells and not end):
        raise ApiError(400, f"Unable to parse range: {text}")
    row0 = int(first[2]) - 1 if first[2] else 0
    col0 = column_index(first[1]) if first[1] else 0
    if end or (first[1] and first[2]):
        row1 = int(last[2]) - 1 if last[2] else MAX_ROWS - 1
        col1 = column_index(last[1]) if last[1] else MAX_COLUMNS - 1
    else:   # "A" or "5" alone: a whole column or row
        row1 = row0 if first[2] else MAX_ROWS - 1
        col1 = col0 if first[1] else MAX_COLUMNS - 1
    if row0 < 0 or row1 < row0 or col1 < col0:
        raise ApiError(400, f"Unable to parse range: {text}")
    return title, row0, col0, row1, col1


def a1(title: str, row0: int, col0: int, row1: int, col1: int) -> str:
    quoted = "'" + title.replace("'", "''") + "'" if not re.fullmatch(r"[A-Za-z0-9_]+", title) else title
    return f"{quoted}!{column_letters(col0)}{row0 + 1}:{column_letters(col1)}{row1 + 1}"


# -- the store -----------------------------------------------------------------------------------------

class Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.spreadsheets: dict[str, dict[str, Any]] = {}
        self.tokens: set[str] = set()
        self.requests: list[tuple[str, str]] = []

    def put(self, spreadsheet_id: str, sheets: dict[str, list[list[Any]]], *, shared: bool = True) -> None:
        with self.lock:
            self.spreadsheets[spreadsheet_id] = {
                "sheets": {title: [[_cell(v) for v in row] for row in rows] for title, rows in sheets.items()},
                "shared": shared}

    def sheet(self, spreadsheet_id: str) -> dict[str, Any]:
        spreadsheet = self.spreadsheets.get(spreadsheet_id)
        if spreadsheet is None:
            raise ApiError(404, "Requested entity was not found.")
        if not spreadsheet["shared"]:
            raise ApiError(403, "The caller does not have permission")
        return spreadsheet

    def read(self, spreadsheet_id: str, range_: str) -> dict[str, Any]:
        with self.lock:
            spreadsheet = self.sheet(spreadsheet_id)
            title, row0, col0, row1, col1 = parse_range(range_, list(spreadsheet["sheets"]))
            grid = spreadsheet["sheets"][title]
            values = [row[col0:col1 + 1] for row in grid[row0:row1 + 1]]
        values = [_trim(row) for row in values]
        while values and not values[-1]:
            values.pop()
        last_row = min(row1, row0 + max(len(values), 1) - 1)
        last_col = min(col1, col0 + max([len(r) for r in values] + [1]) - 1)
        body: dict[str, Any] = {"range": a1(title, row0, col0, last_row, last_col), "majorDimension": "ROWS"}
        if values:
            body["values"] = values
        return body

    def write(self, spreadsheet_id: str, range_: str, values: list[list[Any]]) -> dict[str, Any]:
        with self.lock:
            spreadsheet = self.sheet(spreadsheet_id)
            title, row0, col0, row1, col1 = parse_range(range_, list(spreadsheet["sheets"]))
            if len(values) > row1 - row0 + 1 or any(len(row) > col1 - col0 + 1 for row in values):
                raise ApiError(400, f"Requested writing within range [{range_}], but tried writing beyond it")
            grid = spreadsheet["sheets"][title]
            for r, row in enumerate(values):
                while len(grid) <= row0 + r:
                    grid.append([])
                line = grid[row0 + r]
                for c, value in enumerate(row):
                    while len(line) <= col0 + c:
                        line.append("")
                    line[col0 + c] = _cell(value)
        rows, cols = len(values), max([len(r) for r in values] + [0])
        return {"spreadsheetId": spreadsheet_id, "updatedRange": a1(title, row0, col0, row0 + rows - 1,
                                                                     col0 + max(cols, 1) - 1),
                "updatedRows": rows, "updatedColumns": cols, "updatedCells": sum(len(r) for r in values)}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)


def _trim(row: list[str]) -> list[str]:
    row = list(row)
    while row and row[-1] == "":
        row.pop()
    return row


# -- HTTP ----------------------------------------------------------------------------------------------

def make_handler(store: Store, public_pem: str, token_uri: str):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):   # quiet
            pass

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

        def do_PUT(self):
            self._handle("PUT")

        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            with store.lock:
                store.requests.append((method, url.path))
            try:
                status, body = self._route(method, url.path, parse_qs(url.query), raw)
            except ApiError as exc:
                status, body = exc.code, exc.body()
            except (ValueError, KeyError, TypeError) as exc:
                status, body = 400, ApiError(400, f"Invalid request: {exc}").body()
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str, path: str, params: dict, raw: bytes) -> tuple[int, Any]:
            if path == "/_fake/health":
                return 200, {"status": "ok"}
            if path.startswith("/_fake/spreadsheets/"):
                spreadsheet_id = unquote(path.removeprefix("/_fake/spreadsheets/"))
                if method == "PUT":
                    data = json.loads(raw)
                    store.put(spreadsheet_id, data["sheets"], shared=data.get("shared", True))
                    return 200, {"spreadsheetId": spreadsheet_id}
                with store.lock:
                    spreadsheet = store.spreadsheets.get(spreadsheet_id)
                return (200, spreadsheet) if spreadsheet else (404, ApiError(404, "no such spreadsheet").body())
            if path == "/token" and method == "POST":
                try:
                    return 200, self._token(raw)
                except ApiError as exc:   # OAuth's error shape, not the APIs'
                    return 400, {"error": "invalid_grant", "error_description": exc.message}
            match = re.fullmatch(r"/v4/spreadsheets/([^/]+)/values(?::batchUpdate|/(.+))", path)
            if not match:
                raise ApiError(404, f"no route {method} {path}")
            self._authorised()
            spreadsheet_id, range_ = unquote(match[1]), unquote(match[2]) if match[2] else None
            if method == "GET" and range_:
                return 200, store.read(spreadsheet_id, range_)
            if method == "PUT" and range_:
                _input_option(params.get("valueInputOption", [None])[0])
                data = json.loads(raw)
                return 200, store.write(spreadsheet_id, range_, data.get("values", []))
            if method == "POST" and range_ is None:
                data = json.loads(raw)
                _input_option(data.get("valueInputOption"))
                responses = [store.write(spreadsheet_id, item["range"], item.get("values", []))
                             for item in data.get("data", [])]
                return 200, {"spreadsheetId": spreadsheet_id,
                             "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
                             "totalUpdatedColumns": sum(r["updatedColumns"] for r in responses),
                             "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
                             "totalUpdatedSheets": len({r["updatedRange"].rsplit("!", 1)[0] for r in responses}),
                             "responses": responses}
            raise ApiError(404, f"no route {method} {path}")

        def _token(self, raw: bytes) -> dict:
            from google.auth import exceptions, jwt

            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            if form.get("grant_type") != JWT_BEARER or not form.get("assertion"):
                raise ApiError(400, "unsupported grant type")
            try:
                jwt.decode(form["assertion"], certs=public_pem, audience=[GOOGLE_TOKEN_AUDIENCE, token_uri])
            except (exceptions.GoogleAuthError, ValueError) as exc:
                raise ApiError(400, f"invalid JWT: {exc}") from None
            token = "ya29.fake-" + secrets.token_urlsafe(24)
            with store.lock:
                store.tokens.add(token)
            return {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

        def _authorised(self) -> None:
            scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
            with store.lock:
                known = scheme == "Bearer" and token in store.tokens
            if not known:
                raise ApiError(401, "Request had invalid authentication credentials.")

    return Handler


def _input_option(value: str | None) -> None:
    if value not in ("RAW", "USER_ENTERED"):
        raise ApiError(400, "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED")


class FakeSheets:
    """The fake on a background thread (tests), or in the foreground (CLI)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.store = Store()
        self._server = ThreadingHTTPServer((host, port), None)
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self.token_uri = f"{self.url}/token"
        self.service_account, public_pem = make_service_account(self.token_uri)
        self._server.RequestHandlerClass = make_handler(self.store, public_pem, self.token_uri)
        self._thread: threading.Thread | None = None

    def start(self) -> "FakeSheets":
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-sheets", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def put(self, spreadsheet_id: str, sheets: dict[str, list[list[Any]]], *, shared: bool = True) -> None:
        self.store.put(spreadsheet_id, sheets, shared=shared)

    def rows(self, spreadsheet_id: str, title: str) -> list[list[str]]:
        with self.store.lock:
            return [list(row) for row in self.store.spreadsheets[spreadsheet_id]["sheets"][title]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8031)
    parser.add_argument("--service-account-file", required=True,
                        help="where to write the generated service-account key (for GOOGLE_SERVICE_ACCOUNT_FILE)")
    args = parser.parse_args(argv)
    fake = FakeSheets(args.host, args.port)
    path = Path(args.service_account_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fake.service_account, indent=2))
    path.chmod(0o600)
    print(f"fake Google Sheets on {fake.url} (token endpoint {fake.token_uri})", flush=True)
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
