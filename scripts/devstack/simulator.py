"""A local carrier simulator that speaks Twilio's REST dialect (API 2010-04-01).

It lets outdial run with no Twilio account: point the real twilio-python SDK at
it (an http client that rewrites ``https://api.twilio.com`` to ``base_url``) and
it accepts what the SDK sends, answers what the SDK parses, plays each call
through a scripted scenario on a background thread, and sends signed status
callbacks and TwiML requests the way Twilio does.

Outcome rule: the LAST FOUR DIGITS of ``To`` pick the outcome
(digits only, so ``+1 (415) 555-0002`` ends in ``0002``):

    ====  ==========================  ===============================================
    last  outcome                     what happens
    ====  ==========================  ===============================================
    0001  invalid-number              create answers 400, code 21211 "Invalid 'To'
                                      Phone Number"; no call, no callbacks
    0009  carrier-unavailable         create answers 503, code 20500 "Internal
                                      Server Error"; no call, no callbacks
    0002  busy                        initiated, ringing (~1 s), ends ``busy``
                                      (SipResponseCode 486)
    0003  no-answer                   initiated, rings for ``Timeout`` seconds
                                      (default 60), ends ``no-answer`` (487)
    0004  machine                     answered by an answering machine
                                      (``AnsweredBy=machine_end_beep`` when
                                      MachineDetection was requested), TwiML
                                      fetched, ends ``completed`` after a ~2 s
                                      message (200)
    0005  failed                      initiated, ends ``failed`` (500), no ringing
    0006  long                        a human answers and talks ~60 s, so a test can
                                      cancel it while ringing or hang it up
    else  human                       ``AnsweredBy=human`` (with MachineDetection),
                                      TwiML fetched, talks ~4 s, ends ``completed``
    ====  ==========================  ===============================================

Timeline (simulated seconds, each multiplied by ``time_scale`` in real time):
queued 1 s -> initiated -> 0.5 s -> ringing -> 2 s -> answered -> talk -> completed.
A ring longer than ``Timeout`` ends ``no-answer``; a talk longer than
``TimeLimit`` is cut at ``TimeLimit``.  Durations (``duration``,
``CallDuration``) are reported in simulated seconds; timestamps are wall-clock
UTC.

Call resource ``status``: ``queued`` until ringing (the SDK's enum has no
``initiated``; only the initiated *callback* says ``CallStatus=initiated``), then
``ringing``, ``in-progress`` and one of ``completed``, ``busy``, ``no-answer``,
``failed``, ``canceled``.

Updates (``POST .../Calls/{Sid}.json``):

* ``Status=canceled`` ends a queued or ringing call as ``canceled``; on an
  in-progress call it has no effect (Twilio documents the same).
* ``Status=completed`` hangs up an in-progress call (``completed`` with its
  duration so far); on a queued or ringing call it ends it as ``canceled``.
* ``Url``/``Twiml`` on an in-progress call fetches/records new TwiML; on a
  queued/ringing call it replaces the TwiML used at answer.
* anything on a call that has ended: 400, code 21220 "Call is not in-progress.
  Cannot redirect."

Status callbacks go to ``StatusCallback`` (``StatusCallbackMethod``, default
POST) for exactly the events in ``StatusCallbackEvent`` (default: completed).
The final callback of a busy/no-answer/failed/canceled call is the
``completed`` event carrying that ``CallStatus``.  Every callback and TwiML
request is signed (``X-Twilio-Signature``, HMAC-SHA1 over the exact URL and the
form params via ``RequestValidator``).  A connection error is retried once after
1 s (scaled); any other delivery failure is recorded, never fatal.

List filters: ``To``, ``From``, ``Status``, ``ParentCallSid``, ``StartTime``,
``StartTime>`` (on or after), ``StartTime<`` (before), and the same three for
``EndTime``; values may be ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SSZ`` (what the
SDK sends for a datetime).  A call not yet dialled has no ``start_time``; the
StartTime filters then use its ``date_created``.

Introspection (no auth): ``GET /_sim/calls``, ``GET /_sim/calls/{Sid}``,
``POST /_sim/reset``, ``GET /_sim/health``.

CLI::

    python -m scripts.devstack.simulator --port 8021 --account-sid AC... \\
        --auth-token ... [--time-scale 1.0]
"""
from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import itertools
import json
import logging
import math
import os
import re
import secrets
import signal
import sys
import threading
import time
from datetime import date, datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from twilio.request_validator import RequestValidator

log = logging.getLogger("outdial.simulator")

API_VERSION = "2010-04-01"
API_PREFIX = f"/{API_VERSION}"

OUTCOMES: dict[str, str] = {
    "0001": "invalid-number",
    "0002": "busy",
    "0003": "no-answer",
    "0004": "machine",
    "0005": "failed",
    "0006": "long",
    "0009": "carrier-unavailable",
}
DEFAULT_OUTCOME = "human"

# Simulated seconds; multiplied by time_scale.
TIMINGS: dict[str, float] = {
    "queue": 1.0,          # queued -> initiated
    "dial": 0.5,           # initiated -> ringing (or -> failed)
    "ring": 2.0,           # ringing -> answered
    "busy_ring": 1.0,      # ringing -> busy
    "amd": 1.5,            # answer -> machine detection result (async AMD only)
    "talk_human": 4.0,
    "talk_machine": 2.0,
    "talk_long": 60.0,
    "talk_app_error": 2.0,  # "an application error has occurred" then hang up
    "callback_retry": 1.0,
}

STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
LIVE = frozenset({"queued", "ringing", "in-progress"})
DEFAULT_TIMEOUT = 60
MAX_TIMEOUT = 600
DEFAULT_TIME_LIMIT = 14400
CALLBACK_HTTP_TIMEOUT = 15.0  # Twilio's webhook timeout
PRICE_PER_MINUTE = 0.014
_SID_RE = re.compile(r"^CA[0-9a-fA-F]{32}$")
_CALLS_RE = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Calls\.json$")
_CALL_RE = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Calls/([^/]+)\.json$")
_SIM_CALL_RE = re.compile(r"^/_sim/calls/([^/]+)$")


class ApiError(Exception):
    """A Twilio-style error response."""

    def __init__(self, status: int, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }
        body.update(self.extra)
        return body


class _Interrupted(Exception):
    """The call ended from outside (REST update) or was abandoned (reset/stop)."""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def rfc2822(dt: Optional[datetime]) -> Optional[str]:
    """Twilio's date format, always UTC: 'Tue, 31 Aug 2010 20:36:28 +0000'."""
    if dt is None:
        return None
    return format_datetime(dt.astimezone(timezone.utc))


def _iso(dt: Optional[datetime]) -> Optional[str]:
    return dt.isoformat() if dt else None


def _last_four(number: str) -> str:
    digits = re.sub(r"\D", "", number or "")
    return digits[-4:]


def outcome_for(to: str) -> str:
    """The scenario a call to `to` plays (see the module docstring)."""
    return OUTCOMES.get(_last_four(to), DEFAULT_OUTCOME)


def _formatted(number: str) -> str:
    m = re.fullmatch(r"\+1(\d{3})(\d{3})(\d{4})", number or "")
    if m:
        return "({}) {}-{}".format(*m.groups())
    return number


def _first(params: dict[str, list[str]], name: str) -> Optional[str]:
    values = params.get(name)
    return values[0] if values else None


def _flatten(params: dict[str, list[str]]) -> dict[str, Any]:
    return {k: (v[0] if len(v) == 1 else list(v)) for k, v in params.items()}


def _parse_int(params: dict[str, list[str]], name: str, default: int, lo: int, hi: int) -> int:
    raw = _first(params, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, 21212 if name == "Timeout" else 20001, f"Invalid {name}: {raw!r}")
    return max(lo, min(hi, value))


def _parse_filter_time(name: str, raw: str) -> tuple[str, Any]:
    """('date', date) for YYYY-MM-DD, ('datetime', aware datetime) otherwise."""
    raw = raw.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            return "date", date.fromisoformat(raw)
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, 20001, f"Invalid {name}: {raw!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return "datetime", dt.astimezone(timezone.utc)


def _time_matches(value: Optional[datetime], op: str, kind: str, bound: Any) -> bool:
    if value is None:
        return False
    left: Any = value.date() if kind == "date" else value
    if op == ">":
        return left >= bound  # "on or after"
    if op == "<":
        return left < bound
    return left == bound


class SimCall:
    """One call's state. Mutated only under CarrierSimulator._lock."""

    def __init__(self, sid: str, account_sid: str, params: dict[str, list[str]], outcome: str, seq: int):
        self.sid = sid
        self.account_sid = account_sid
        self.seq = seq
        self.params = params
        self.to = _first(params, "To") or ""
        self.from_ = _first(params, "From") or ""
        self.outcome = outcome
        self.status = "queued"
        self.phase = "queued"  # queued | initiated | ringing | in-progress | ended
        # The API reports whole seconds, as Twilio does; introspection keeps
        # the exact moment the carrier was asked (benchmarks measure it).
        self.received_at = datetime.now(timezone.utc)
        self.date_created = self.received_at.replace(microsecond=0)
        self.date_updated = self.date_created
        self.start_time: Optional[datetime] = None
        self.answer_time: Optional[datetime] = None
        self.answer_mono: Optional[float] = None
        self.end_time: Optional[datetime] = None
        self.duration: Optional[int] = None
        self.sip_response_code: Optional[int] = None
        self.answered_by: Optional[str] = None
        self.ended = False
        self.ended_by: Optional[str] = None  # scenario | api-cancel | api-hangup | error
        self.abandoned = False
        self.done = False

        self.url = _first(params, "Url")
        self.method = (_first(params, "Method") or "POST").upper()
        self.fallback_url = _first(params, "FallbackUrl")
        self.fallback_method = (_first(params, "FallbackMethod") or "POST").upper()
        self.inline_twiml = _first(params, "Twiml")
        self.status_callback = _first(params, "StatusCallback")
        self.status_callback_method = (_first(params, "StatusCallbackMethod") or "POST").upper()
        events: list[str] = []
        for value in params.get("StatusCallbackEvent", []):
            for event in re.split(r"[\s,]+", value.strip().lower()):
                if event in STATUS_EVENTS and event not in events:
                    events.append(event)
        self.events = events if "StatusCallbackEvent" in params else ["completed"]
        self.machine_detection = _first(params, "MachineDetection") or None
        self.async_amd = (_first(params, "AsyncAmd") or "").lower() == "true"
        self.async_amd_callback = _first(params, "AsyncAmdStatusCallback")
        self.async_amd_callback_method = (_first(params, "AsyncAmdStatusCallbackMethod") or "POST").upper()
        self.timeout = _parse_int(params, "Timeout", DEFAULT_TIMEOUT, 1, MAX_TIMEOUT)
        self.time_limit = _parse_int(params, "TimeLimit", DEFAULT_TIME_LIMIT, 1, 86400)
        self.record = (_first(params, "Record") or "").lower() == "true"
        self.recording_callback = _first(params, "RecordingStatusCallback")
        self.stream: Optional[dict[str, Any]] = None   # <Connect><Stream> the answered call runs

        self.callback_seq = itertools.count()
        self.callbacks: list[dict[str, Any]] = []
        self.twiml_requests: list[dict[str, Any]] = []
        self.amd_callbacks: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.recordings: list[dict[str, Any]] = []
        self.twiml: Optional[str] = None

    # --- views -------------------------------------------------------------

    def resource(self) -> dict[str, Any]:
        """The Call resource JSON, shaped like Twilio's."""
        base = f"{API_PREFIX}/Accounts/{self.account_sid}/Calls/{self.sid}"
        price = None
        if self.ended and self.duration:
            price = "-%.5f" % (PRICE_PER_MINUTE * math.ceil(self.duration / 60))
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "direction": "outbound-api",
            "duration": None if self.duration is None else str(self.duration),
            "end_time": rfc2822(self.end_time),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": _formatted(self.from_),
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": "PN" + hashlib.sha256(self.from_.encode()).hexdigest()[:32],
            "price": price,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": rfc2822(self.start_time),
            "status": self.status,
            "stir_verstat": None,
            "subresource_uris": {
                name: f"{base}/{path}.json"
                for name, path in (
                    ("user_defined_message_subscriptions", "UserDefinedMessageSubscriptions"),
                    ("user_defined_messages", "UserDefinedMessages"),
                    ("notifications", "Notifications"),
                    ("recordings", "Recordings"),
                    ("streams", "Streams"),
                    ("payments", "Payments"),
                    ("siprec", "Siprec"),
                    ("events", "Events"),
                    ("transcriptions", "Transcriptions"),
                )
            },
            "to": self.to,
            "to_formatted": _formatted(self.to),
            "trunk_sid": None,
            "uri": f"{base}.json",
        }

    def snapshot(self) -> dict[str, Any]:
        """The introspection view (GET /_sim/calls)."""
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "to": self.to,
            "from": self.from_,
            "status": self.status,
            "outcome": self.outcome,
            "answered_by": self.answered_by,
            "duration": self.duration,
            "sip_response_code": self.sip_response_code,
            "ended_by": self.ended_by,
            "done": self.done,
            "created_at": _iso(self.received_at),
            "started_at": _iso(self.start_time),
            "answered_at": _iso(self.answer_time),
            "ended_at": _iso(self.end_time),
            "params": _flatten(self.params),
            "status_callback": self.status_callback,
            "status_callback_events": list(self.events),
            "callbacks": [dict(c) for c in self.callbacks],
            "twiml_requests": [dict(t) for t in self.twiml_requests],
            "amd_callbacks": [dict(a) for a in self.amd_callbacks],
            "twiml": self.twiml,
            "updates": [dict(u) for u in self.updates],
            "stream": dict(self.stream) if self.stream else None,
            "recordings": [dict(r) for r in self.recordings],
        }

    def start_time_or_created(self) -> datetime:
        return self.start_time or self.date_created


class CarrierSimulator:
    """An in-process fake of Twilio's Calls API plus a call-progress engine."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        time_scale: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("account_sid and auth_token are required")
        if not time_scale > 0:
            raise ValueError("time_scale must be > 0")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.time_scale = float(time_scale)
        self.host = host
        self.port = port
        self._validator = RequestValidator(auth_token)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._calls: dict[str, SimCall] = {}
        self._seq = itertools.count()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # --- lifecycle ---------------------------------------------------------

    def start(self) -> "CarrierSimulator":
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
        server.daemon_threads = True
        server.sim = self  # type: ignore[attr-defined]
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1},
            name=f"carrier-sim:{self.port}", daemon=True,
        )
        self._thread.start()
        log.info("simulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        self._abandon_all()
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "CarrierSimulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- introspection -----------------------------------------------------

    def calls(self) -> list[dict[str, Any]]:
        """A snapshot of every call, oldest first."""
        with self._lock:
            return [c.snapshot() for c in sorted(self._calls.values(), key=lambda c: c.seq)]

    def call(self, sid: str) -> dict[str, Any]:
        with self._lock:
            if sid not in self._calls:
                raise KeyError(sid)
            return self._calls[sid].snapshot()

    def wait_for_call(self, sid: str, timeout: float = 10.0) -> dict[str, Any]:
        """Block until the call has ended and its final callback was sent."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                call = self._calls.get(sid)
                if call is None:
                    raise KeyError(sid)
                if call.done:
                    return call.snapshot()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"call {sid} still {call.status}")
                self._cond.wait(remaining)

    def reset(self) -> None:
        """Forget every call; running scenarios stop without further callbacks."""
        self._abandon_all()
        with self._lock:
            self._calls.clear()

    def _abandon_all(self) -> None:
        with self._cond:
            for call in self._calls.values():
                call.abandoned = True
            self._cond.notify_all()

    # --- REST operations (called by the handler) ---------------------------

    def check_auth(self, header: Optional[str]) -> None:
        ok = False
        if header and header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
                ok = hmac.compare_digest(user, self.account_sid) and hmac.compare_digest(password, self.auth_token)
            except (binascii.Error, UnicodeDecodeError, ValueError):
                ok = False
        if not ok:
            raise ApiError(401, 20003, "Authenticate", detail="Your AccountSid or AuthToken was incorrect.")

    def check_account(self, account_sid: str, path: str) -> None:
        if account_sid != self.account_sid:
            raise ApiError(404, 20404, f"The requested resource {path} was not found")

    def create_call(self, params: dict[str, list[str]]) -> dict[str, Any]:
        to = (_first(params, "To") or "").strip()
        from_ = (_first(params, "From") or "").strip()
        if not to:
            raise ApiError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise ApiError(400, 21603, "A 'From' phone number is required.")
        if not (_first(params, "Url") or _first(params, "Twiml") or _first(params, "ApplicationSid")):
            raise ApiError(400, 21205, "Url parameter is required.")
        outcome = outcome_for(to)
        if outcome == "invalid-number":
            raise ApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if outcome == "carrier-unavailable":
            raise ApiError(503, 20500, "Internal Server Error")
        sid = "CA" + secrets.token_hex(16)
        call = SimCall(sid, self.account_sid, params, outcome, next(self._seq))
        with self._lock:
            self._calls[sid] = call
            body = call.resource()
        log.info("%s created to=%s outcome=%s", sid, to, outcome)
        threading.Thread(target=self._run_call, args=(call,), name=f"call:{sid}", daemon=True).start()
        return body

    def _get(self, sid: str, path: str) -> SimCall:
        call = self._calls.get(sid)
        if call is None:
            raise ApiError(404, 20404, f"The requested resource {path} was not found")
        return call

    def fetch_call(self, sid: str, path: str) -> dict[str, Any]:
        with self._lock:
            return self._get(sid, path).resource()

    def delete_call(self, sid: str, path: str) -> None:
        with self._lock:
            call = self._get(sid, path)
            if not call.ended:
                raise ApiError(400, 21220, "Call is not in a terminal state. Cannot delete.")
            del self._calls[sid]

    def update_call(self, sid: str, params: dict[str, list[str]], path: str) -> dict[str, Any]:
        status = _first(params, "Status")
        url = _first(params, "Url")
        twiml = _first(params, "Twiml")
        redirect: Optional[tuple[SimCall, Optional[str], str, Optional[str]]] = None
        with self._cond:
            call = self._get(sid, path)
            record = {"at": _iso(_utcnow()), "params": _flatten(params), "status_before": call.status}
            if status is not None and status not in ("canceled", "completed"):
                raise ApiError(400, 20001, f"Invalid Status: {status!r}. Must be 'canceled' or 'completed'.")
            if call.ended and (status or url or twiml):
                record["result"] = "rejected: call not in progress"
                call.updates.append(record)
                raise ApiError(400, 21220, "Call is not in-progress. Cannot redirect.")
            if status == "canceled":
                if call.status in ("queued", "ringing"):
                    self._end_locked(call, "canceled", 487, "api-cancel")
                    record["result"] = "canceled"
                else:
                    record["result"] = "ignored: canceled has no effect on an in-progress call"
            elif status == "completed":
                if call.status == "in-progress":
                    self._end_locked(call, "completed", 200, "api-hangup")
                    record["result"] = "completed"
                else:
                    self._end_locked(call, "canceled", 487, "api-hangup")
                    record["result"] = "canceled (hung up before answer)"
            elif url or twiml:
                method = (_first(params, "Method") or "POST").upper()
                if call.status == "in-progress":
                    redirect = (call, url, method, twiml)
                    record["result"] = "redirected"
                else:
                    call.url, call.method, call.inline_twiml = url, method, twiml
                    record["result"] = "twiml replaced for answer"
            else:
                record["result"] = "no-op"
            call.updates.append(record)
            body = call.resource()
        if redirect is not None:
            threading.Thread(target=self._redirect, args=redirect, daemon=True).start()
        return body

    def list_calls(self, query: dict[str, list[str]], path: str) -> dict[str, Any]:
        filters: list[tuple[str, str]] = []
        checks: list[Callable[[SimCall], bool]] = []
        for name, attr in (("To", "to"), ("From", "from_"), ("Status", "status")):
            value = _first(query, name)
            if value:
                filters.append((name, value))
                checks.append(lambda c, a=attr, v=value: getattr(c, a) == v)
        parent = _first(query, "ParentCallSid")
        if parent:
            filters.append(("ParentCallSid", parent))
            checks.append(lambda c: False)  # simulated calls have no parent
        for field, getter in (
            ("StartTime", SimCall.start_time_or_created),
            ("EndTime", lambda c: c.end_time),
        ):
            for op in ("", ">", "<"):
                name = field + op
                raw = _first(query, name)
                if not raw:
                    continue
                kind, bound = _parse_filter_time(name, raw)
                filters.append((name, raw))
                checks.append(lambda c, g=getter, o=op, k=kind, b=bound: _time_matches(g(c), o, k, b))
        page_size = _parse_int(query, "PageSize", 50, 1, 1000)
        page = _parse_int(query, "Page", 0, 0, 10**6)
        with self._lock:
            matching = [c for c in self._calls.values() if all(check(c) for check in checks)]
            matching.sort(key=lambda c: c.seq, reverse=True)  # newest first, like Twilio
            start = page * page_size
            chunk = matching[start:start + page_size]
            records = [c.resource() for c in chunk]
        has_next = start + page_size < len(matching)

        def page_uri(n: int, token: Optional[str] = None) -> str:
            q = filters + [("PageSize", str(page_size)), ("Page", str(n))]
            if token:
                q.append(("PageToken", token))
            return f"{path}?{urlencode(q)}"

        return {
            "calls": records,
            "end": start + len(records) - 1 if records else start,
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1, "PA" + chunk[-1].sid) if has_next else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "start": start,
            "uri": page_uri(page),
        }

    # --- scenario engine ---------------------------------------------------

    def _scaled(self, sim_seconds: float) -> float:
        return sim_seconds * self.time_scale

    def _sim_elapsed(self, since_mono: float) -> float:
        return (time.monotonic() - since_mono) / self.time_scale

    def _wait(self, call: SimCall, sim_seconds: float) -> None:
        deadline = time.monotonic() + self._scaled(sim_seconds)
        with self._cond:
            while True:
                if call.ended or call.abandoned:
                    raise _Interrupted()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)

    def _transition(self, call: SimCall, fn: Callable[[], None]) -> None:
        with self._cond:
            if call.ended or call.abandoned:
                raise _Interrupted()
            fn()
            call.date_updated = _utcnow()
            self._cond.notify_all()

    def _end_locked(self, call: SimCall, status: str, sip: int, by: str) -> None:
        now = _utcnow()
        call.status = status
        call.phase = "ended"
        call.ended = True
        call.ended_by = by
        call.sip_response_code = sip
        call.end_time = now
        call.date_updated = now
        if call.answer_mono is not None:
            call.duration = max(1, math.ceil(self._sim_elapsed(call.answer_mono) - 1e-3))
        self._cond.notify_all()

    def _run_call(self, call: SimCall) -> None:
        try:
            self._play(call)
        except _Interrupted:
            pass
        except Exception as exc:  # never let a scenario bug kill the thread silently
            log.exception("%s scenario crashed", call.sid)
            with self._cond:
                if not call.ended:
                    call.updates.append({"at": _iso(_utcnow()), "result": f"simulator error: {exc!r}"})
                    self._end_locked(call, "failed", 500, "error")
        try:
            with self._lock:
                send_final = call.ended and not call.abandoned
            if send_final:
                self._status_callback(call, "completed")
                self._stop_stream(call)
                self._recording_callback(call)
            log.info("%s ended %s", call.sid, call.status)
        finally:
            with self._cond:
                call.done = True
                self._cond.notify_all()

    def _play(self, call: SimCall) -> None:
        T = TIMINGS
        self._wait(call, T["queue"])

        def initiated() -> None:
            call.phase = "initiated"
            call.start_time = _utcnow()

        self._transition(call, initiated)
        self._status_callback(call, "initiated", "initiated")
        self._wait(call, T["dial"])

        if call.outcome == "failed":
            self._transition(call, lambda: self._end_locked(call, "failed", 500, "scenario"))
            return

        def ringing() -> None:
            call.phase = call.status = "ringing"

        self._transition(call, ringing)
        self._status_callback(call, "ringing", "ringing")

        if call.outcome == "busy":
            self._wait(call, min(T["busy_ring"], call.timeout))
            self._transition(call, lambda: self._end_locked(call, "busy", 486, "scenario"))
            return
        if call.outcome == "no-answer" or call.timeout < T["ring"]:
            self._wait(call, call.timeout)
            self._transition(call, lambda: self._end_locked(call, "no-answer", 487, "scenario"))
            return

        self._wait(call, T["ring"])
        answerer = "machine_end_beep" if call.outcome == "machine" else "human"
        sync_amd = bool(call.machine_detection) and not call.async_amd

        def answered() -> None:
            call.phase = call.status = "in-progress"
            call.answer_time = _utcnow()
            call.answer_mono = time.monotonic()
            if sync_amd:
                call.answered_by = answerer

        self._transition(call, answered)
        self._status_callback(call, "answered", "in-progress")
        ok = self._fetch_twiml(call, call.url, call.method, call.inline_twiml, first=True)
        if ok:
            self._start_stream(call)
        if call.machine_detection and call.async_amd:
            self._wait(call, T["amd"])
            self._transition(call, lambda: setattr(call, "answered_by", answerer))
            self._async_amd_callback(call)

        talk = {
            "machine": T["talk_machine"],
            "long": T["talk_long"],
        }.get(call.outcome, T["talk_human"])
        if not ok:
            talk = T["talk_app_error"]
        talk = min(talk, call.time_limit)
        # Measure from the answer so the TwiML fetch time is part of the talk.
        assert call.answer_mono is not None
        self._wait(call, max(0.0, talk - self._sim_elapsed(call.answer_mono)))

        def completed() -> None:
            self._end_locked(call, "completed", 200, "scenario")
            call.duration = int(math.ceil(talk))

        self._transition(call, completed)

    # --- media streams and recordings ---------------------------------------
    # A <Connect><Stream url="ws://..."> verb is not streamed (there is no
    # audio): the simulator tells the stream's server what Twilio's `start`
    # and `stop` messages would (POST {http base}/_fake/stream-start|stop with
    # callSid and customParameters). The local ElevenLabs fake listens there.

    def _start_stream(self, call: SimCall) -> None:
        import xml.etree.ElementTree as ET

        try:
            root = ET.fromstring(call.twiml or "<Response/>")
        except ET.ParseError:
            return
        stream = root.find("./Connect/Stream")
        if stream is None or not stream.get("url"):
            return
        parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter") if p.get("name")}
        call.stream = {"url": stream.get("url"), "customParameters": parameters, "streamSid": "MZ" + secrets.token_hex(16)}
        self._notify_stream(call, "start")

    def _stop_stream(self, call: SimCall) -> None:
        if call.stream is not None:
            self._notify_stream(call, "stop")

    def _notify_stream(self, call: SimCall, event: str) -> None:
        parts = urlsplit(call.stream["url"])
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        body = {"event": event, "callSid": call.sid, "accountSid": call.account_sid,
                "streamSid": call.stream["streamSid"], "streamUrl": call.stream["url"],
                "customParameters": call.stream["customParameters"], "duration": call.duration}
        try:
            requests.post(f"{scheme}://{parts.netloc}/_fake/stream-{event}", json=body, timeout=5)
        except requests.RequestException as exc:
            log.info("%s stream %s not delivered: %s", call.sid, event, exc)

    def _recording_callback(self, call: SimCall) -> None:
        """Twilio's recording status callback, for a recorded call that was answered."""
        with self._lock:
            if not (call.record and call.recording_callback and call.answer_time) or call.abandoned:
                return
            params = {
                "AccountSid": call.account_sid, "CallSid": call.sid, "RecordingSid": "RE" + secrets.token_hex(16),
                "RecordingStatus": "completed", "RecordingDuration": str(call.duration or 0),
                "RecordingChannels": "1", "RecordingSource": "OutboundAPI",
                "RecordingStartTime": rfc2822(call.answer_time) or "",
            }
            params["RecordingUrl"] = (f"{self.base_url}/{API_VERSION}/Accounts/{call.account_sid}/Recordings/"
                                      f"{params['RecordingSid']}")
            call.recordings.append(params)
        self._deliver(call.recording_callback, "POST", params, retry_on_connect_error=True)

    def _redirect(self, call: SimCall, url: Optional[str], method: str, twiml: Optional[str]) -> None:
        try:
            self._fetch_twiml(call, url, method, twiml, first=False)
        except Exception:
            log.exception("%s redirect failed", call.sid)

    # --- outgoing requests -------------------------------------------------

    def _call_params(self, call: SimCall, status: str) -> dict[str, str]:
        return {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": "outbound-api",
            "From": call.from_,
            "To": call.to,
        }

    def _status_callback(self, call: SimCall, event: str, status: Optional[str] = None) -> None:
        """Send the `event` callback; `status` is the CallStatus at the moment of the event
        (default: the call's current status, used for the final 'completed' event)."""
        with self._lock:
            if not call.status_callback or event not in call.events or call.abandoned:
                return
            status = status or call.status
            params = self._call_params(call, status)
            params.update({
                "Timestamp": rfc2822(_utcnow()) or "",
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(next(call.callback_seq)),
            })
            if call.machine_detection and call.answered_by:
                params["AnsweredBy"] = call.answered_by
            if event == "completed":
                seconds = call.duration or 0
                params["CallDuration"] = str(seconds)
                params["Duration"] = str(math.ceil(seconds / 60))
                if call.sip_response_code is not None:
                    params["SipResponseCode"] = str(call.sip_response_code)
            url, method = call.status_callback, call.status_callback_method
            entry: dict[str, Any] = {"event": event, "CallStatus": status, "url": url, "method": method,
                                     "params": params, "sent_at": None, "status_code": None,
                                     "error": None, "attempts": 0}
            call.callbacks.append(entry)
        result = self._deliver(url, method, params, retry_on_connect_error=True)
        with self._lock:
            entry.update(result)
        log.info("%s callback %s CallStatus=%s -> %s", call.sid, event, status,
                 result["status_code"] or result["error"])

    def _fetch_twiml(self, call: SimCall, url: Optional[str], method: str,
                     inline: Optional[str], first: bool) -> bool:
        """Fetch (or take inline) TwiML; returns False on an application error."""
        with self._lock:
            if call.abandoned:
                return True
            if not url:
                entry = {"url": None, "method": None, "source": "inline" if inline else "application",
                         "params": None, "status_code": None, "body": inline, "error": None,
                         "requested_at": _iso(_utcnow())}
                call.twiml_requests.append(entry)
                if inline is not None:
                    call.twiml = inline
                return True
            params = self._call_params(call, call.status)
            if call.machine_detection and call.answered_by and first:
                params["AnsweredBy"] = call.answered_by
                params["MachineDetectionDuration"] = "1500"
            fallback = (call.fallback_url, call.fallback_method) if call.fallback_url else None
        attempts = [(url, method, "url")] + ([(fallback[0], fallback[1], "fallback")] if fallback else [])
        for target, verb, source in attempts:
            with self._lock:
                entry = {"url": target, "method": verb, "source": source, "params": dict(params),
                         "status_code": None, "body": None, "error": None,
                         "requested_at": _iso(_utcnow())}
                call.twiml_requests.append(entry)
            result = self._deliver(target, verb, params, retry_on_connect_error=False)
            with self._lock:
                entry.update({k: result[k] for k in ("status_code", "error", "body")})
                code = result["status_code"]
                if code is not None and 200 <= code < 300:
                    call.twiml = result["body"]
                    return True
                entry["error"] = entry["error"] or f"11200: HTTP retrieval failure ({code})"
        return False

    def _async_amd_callback(self, call: SimCall) -> None:
        with self._lock:
            if not call.async_amd_callback or call.abandoned:
                return
            params = {"AccountSid": call.account_sid, "CallSid": call.sid,
                      "AnsweredBy": call.answered_by or "unknown", "MachineDetectionDuration": "1500"}
            url, method = call.async_amd_callback, call.async_amd_callback_method
            entry: dict[str, Any] = {"url": url, "params": params}
            call.amd_callbacks.append(entry)
        entry_result = self._deliver(url, method, params, retry_on_connect_error=True)
        with self._lock:
            entry.update(entry_result)

    def _deliver(self, url: str, method: str, params: dict[str, str],
                 retry_on_connect_error: bool) -> dict[str, Any]:
        """Send one signed webhook; never raises."""
        if method == "GET":
            target = url + ("&" if urlsplit(url).query else "?") + urlencode(params)
            signature = self._validator.compute_signature(target, {})
        else:
            target = url
            signature = self._validator.compute_signature(url, params)
        headers = {
            "X-Twilio-Signature": signature,
            "User-Agent": "TwilioProxy/1.1",
            "Accept": "*/*",
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        }
        result: dict[str, Any] = {"sent_at": _iso(_utcnow()), "status_code": None, "error": None,
                                  "body": None, "attempts": 0}
        session = requests.Session()
        session.trust_env = False  # callbacks go to local services; never via an env proxy
        try:
            return self._send_with_retry(session, target, method, params, headers, result,
                                         retry_on_connect_error)
        finally:
            session.close()

    def _send_with_retry(self, session: requests.Session, target: str, method: str,
                         params: dict[str, str], headers: dict[str, str], result: dict[str, Any],
                         retry_on_connect_error: bool) -> dict[str, Any]:
        for attempt in (1, 2):
            result["attempts"] = attempt
            try:
                if method == "GET":
                    resp = session.get(target, headers=headers, timeout=CALLBACK_HTTP_TIMEOUT,
                                       allow_redirects=False)
                else:
                    headers["Content-Type"] = "application/x-www-form-urlencoded"
                    resp = session.post(target, data=params, headers=headers,
                                        timeout=CALLBACK_HTTP_TIMEOUT, allow_redirects=False)
                result["status_code"] = resp.status_code
                result["body"] = resp.text
                result["error"] = None
                return result
            except requests.ConnectionError as exc:  # includes ConnectTimeout, not ReadTimeout
                result["error"] = f"connection error: {exc}"
                if attempt == 1 and retry_on_connect_error:
                    time.sleep(self._scaled(TIMINGS["callback_retry"]))
                    continue
                return result
            except requests.RequestException as exc:
                result["error"] = f"{type(exc).__name__}: {exc}"
                return result
            except Exception as exc:  # a bad URL etc.
                result["error"] = f"{type(exc).__name__}: {exc}"
                return result
        return result


class _Handler(BaseHTTPRequestHandler):
    server_version = "CarrierSimulator/1.0"
    sys_version = ""

    @property
    def sim(self) -> CarrierSimulator:
        return self.server.sim  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _read_body(self) -> str:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        raw = self.rfile.read(length) if length > 0 else b""
        return raw.decode("utf-8", errors="replace")

    def _dispatch(self, method: str) -> None:
        try:
            body = self._read_body()
            split = urlsplit(self.path)
            path = split.path
            query = parse_qs(split.query, keep_blank_values=True)
            form = parse_qs(body, keep_blank_values=True) if body else {}
            if path.startswith("/_sim"):
                status, payload = self._sim_route(method, path)
            elif path.startswith(API_PREFIX + "/"):
                status, payload = self._api_route(method, path, query, form)
            else:
                raise ApiError(404, 20404, f"The requested resource {path} was not found")
        except ApiError as err:
            status, payload = err.status, err.body()
            if err.status == 401:
                self._send(status, payload, {"WWW-Authenticate": 'Basic realm="Twilio API"'})
                return
        except Exception as exc:  # never crash the server on a bad request
            log.exception("error handling %s %s", method, self.path)
            status, payload = 500, ApiError(500, 20500, f"Internal Server Error: {exc!r}").body()
        self._send(status, payload)

    def _send(self, status: int, payload: Any, extra_headers: Optional[dict[str, str]] = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            if payload is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Twilio-Request-Id", "RQ" + secrets.token_hex(16))
            for k, v in (extra_headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if data:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _sim_route(self, method: str, path: str) -> tuple[int, Any]:
        sim = self.sim
        if path == "/_sim/calls" and method == "GET":
            return 200, sim.calls()
        m = _SIM_CALL_RE.match(path)
        if m and method == "GET":
            try:
                return 200, sim.call(m.group(1))
            except KeyError:
                raise ApiError(404, 20404, f"The requested resource {path} was not found")
        if path == "/_sim/reset" and method == "POST":
            sim.reset()
            return 200, {"reset": True}
        if path in ("/_sim/health", "/_sim") and method == "GET":
            return 200, {"ok": True, "account_sid": sim.account_sid, "time_scale": sim.time_scale,
                         "outcomes": OUTCOMES, "default_outcome": DEFAULT_OUTCOME}
        raise ApiError(404, 20404, f"The requested resource {path} was not found")

    def _api_route(self, method: str, path: str, query: dict[str, list[str]],
                   form: dict[str, list[str]]) -> tuple[int, Any]:
        sim = self.sim
        sim.check_auth(self.headers.get("Authorization"))
        m = _CALLS_RE.match(path)
        if m:
            sim.check_account(m.group(1), path)
            if method == "POST":
                return 201, sim.create_call(form)
            if method == "GET":
                return 200, sim.list_calls(query, path)
            raise ApiError(405, 20004, f"Method not allowed: {method}")
        m = _CALL_RE.match(path)
        if m:
            sim.check_account(m.group(1), path)
            sid = m.group(2)
            if method == "GET":
                return 200, sim.fetch_call(sid, path)
            if method == "POST":
                return 200, sim.update_call(sid, form, path)
            if method == "DELETE":
                sim.delete_call(sid, path)
                return 204, None
            raise ApiError(405, 20004, f"Method not allowed: {method}")
        raise ApiError(404, 20404, f"The requested resource {path} was not found")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.devstack.simulator",
        description="Local carrier simulator speaking Twilio's REST dialect.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8021)
    parser.add_argument("--account-sid", default=os.environ.get("TWILIO_ACCOUNT_SID"))
    parser.add_argument("--auth-token", default=os.environ.get("TWILIO_AUTH_TOKEN"))
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="multiply every simulated delay by this (e.g. 0.1 = 10x faster)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every HTTP request")
    args = parser.parse_args(argv)
    if not args.account_sid or not args.auth_token:
        parser.error("--account-sid and --auth-token are required (or TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN)")
    if not args.time_scale > 0:
        parser.error("--time-scale must be > 0")

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    sim = CarrierSimulator(args.account_sid, args.auth_token, time_scale=args.time_scale,
                           host=args.host, port=args.port)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sim.start()
    print(f"simulator listening on {sim.base_url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
