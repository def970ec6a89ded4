"""A tiny threaded JSON/form HTTP server the local provider fakes share."""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("outdial.fakes")


class Request:
    def __init__(self, method: str, path: str, query: dict[str, list[str]], headers, body: bytes):
        self.method, self.path, self.query, self.headers, self.body = method, path, query, headers, body

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)


class HttpError(Exception):
    def __init__(self, status: int, body: Any):
        super().__init__(status)
        self.status, self.body = status, body


Handler = Callable[[Request], tuple[int, Any]]


class FakeServer:
    """Serves `route(request) -> (status, json body)` on a background thread."""

    def __init__(self, route: Handler, *, host: str = "127.0.0.1", port: int = 0):
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002
                log.debug(format, *args)

            def _serve(self, method: str) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(method, split.path, parse_qs(split.query, keep_blank_values=True), self.headers,
                                  self.rfile.read(length) if length else b"")
                try:
                    status, body = outer._route(request)
                except HttpError as exc:
                    status, body = exc.status, exc.body
                except Exception as exc:   # a fake never dies of a bad request
                    log.exception("fake failed on %s %s", method, self.path)
                    status, body = 500, {"detail": repr(exc)}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        self._route = route
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def later(seconds: float, action: Callable[[], None]) -> None:
    """Run `action` after `seconds` on its own thread (a scenario step)."""
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()


class FakeApi:
    """A fake of a provider's HTTP API: subclasses route requests in `_route`."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0):
        self._server = FakeServer(self._route, host=host, port=port)

    def _route(self, request: Request) -> tuple[int, Any]:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def start(self):
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()
