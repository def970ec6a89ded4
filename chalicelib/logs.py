"""Structured logs: one JSON object per line, with the request id and call id
of the work in hand, and never a full phone number, an API key or a token.
Masking happens in the formatter, so a careless message cannot leak one."""
from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any, Iterator

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("log_context", default={})

PHONE = re.compile(r"\+\d{6,15}")
API_KEY = re.compile(r"odk_[A-Za-z0-9_\-]{4,}")
BEARER = re.compile(r"(?i)(bearer\s+)\S+")
HEX_SECRET = re.compile(r"\b[0-9a-f]{32}\b")          # Twilio auth tokens and the like
SECRET_FIELDS = {"authorization", "x-api-key", "auth_token", "authtoken", "token", "password", "transcript",
                 "text", "key"}


def redact(text: str) -> str:
    text = PHONE.sub(lambda m: m.group(0)[:-4] + "****", text)
    text = API_KEY.sub("odk_****", text)
    text = BEARER.sub(r"\1****", text)
    return HEX_SECRET.sub("****", text)


def _clean(value: Any, key: str = "") -> Any:
    if key.lower() in SECRET_FIELDS:
        return "****"
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _clean(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context.get(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self.RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(_clean(entry), default=str)


@contextlib.contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    """Add e.g. requestId or callId to every log line written inside."""
    token = _context.set({**_context.get(), **{k: v for k, v in values.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


def configure(level: int = logging.INFO) -> None:
    """JSON on stdout for the root logger (Lambda ships stdout to CloudWatch)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stdout))
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
    root.setLevel(level)
