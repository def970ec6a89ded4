"""The one source of "now". Always timezone-aware UTC, millisecond precision
(what BSON dates keep), so a value survives a round trip through MongoDB.

Tests move time with `use(FrozenClock(...))`.
"""
from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone
from typing import Iterator, Protocol

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return to_ms(datetime.now(timezone.utc))


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start")
        self._now = to_ms(start.astimezone(timezone.utc))

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now = to_ms(self._now + timedelta(**delta))
        return self._now


_current: Clock = SystemClock()


def now() -> datetime:
    return _current.now()


@contextlib.contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
