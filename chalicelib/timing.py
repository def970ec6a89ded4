"""When a call may be placed: calling windows, DST-safe local times, recurrences.

Pure functions, no I/O. Every datetime crossing this module's boundary is
timezone-aware UTC, except the ones documented as "naive local" wall-clock
times, which are read in an explicitly named IANA zone.

Conventions worth knowing before calling anything here:

* Days of the week are numbered 0=Sunday ... 6=Saturday (the seed data's
  convention), NOT Python's Monday=0.
* A calling window is wall-clock time in the callee's zone(s). One window
  "instance" belongs to the day it starts on and is the real-time interval
  from the first moment local clocks read `start` to the first moment they
  read `end`. Consequences at DST changes:
    - a start (or end) inside a spring-forward gap happens at the first valid
      instant after the gap (the transition itself);
    - a start (or end) inside a fall-back repeated hour happens at its first
      occurrence, so a window that ends during the repeated hour closes at
      the first reading of `end` (the conservative choice for compliance).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from dateutil import rrule
from phonenumbers import timezone as phone_timezone

UTC = timezone.utc

# US TCPA: calls allowed 8am-9pm in the callee's local time.
DEFAULT_WINDOW_START = time(8, 0)
DEFAULT_WINDOW_END = time(21, 0)

NOTE_NONEXISTENT = "nonexistent_local_time_shifted_forward"
NOTE_AMBIGUOUS = "ambiguous_local_time_first_occurrence"

ALL_DAYS: frozenset[int] = frozenset(range(7))
FREQUENCIES = ("daily", "weekly", "monthly")

_HHMM = re.compile(r"([0-9]{2}):([0-9]{2})")


class UnknownTimezone(ValueError):
    """An IANA zone name zoneinfo does not know. A ValueError, so callers that
    validate input can catch one thing."""


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Window:
    """An allowed calling window, e.g. 08:00-21:00 every day.

    `start` is inclusive, `end` exclusive, both local wall-clock times. When
    `end <= start` the window wraps past midnight (22:00-06:00); `end == start`
    is therefore a full 24 hours. `days_of_week` (0=Sunday) names the days a
    window may START on. The window must hold in every zone of `timezones` at
    once; no zones means UTC.
    """

    start: time
    end: time
    days_of_week: frozenset[int] = ALL_DAYS
    timezones: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time) or value.tzinfo is not None:
                raise ValueError(f"window {name} must be a naive datetime.time")
        # Accept any iterable (lists from JSON) but store hashable, immutable values.
        days = frozenset(self.days_of_week)
        if not days <= ALL_DAYS:
            raise ValueError("days_of_week must be integers 0 (Sunday) to 6 (Saturday)")
        object.__setattr__(self, "days_of_week", days)
        zones = tuple(dict.fromkeys(self.timezones))  # dedupe, keep order
        for key in zones:
            _zone(key)  # fail at construction, not at the first scheduling decision
        object.__setattr__(self, "timezones", zones)

    @property
    def wraps(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True)
class Recurrence:
    """How a schedule repeats.

    `by_weekday` (0=Sunday ... 6=Saturday) restricts daily/weekly rules to
    those days, e.g. daily + (1, 2, 3, 4, 5) is "every weekday". Weekly
    without it repeats on the anchor's weekday. Weeks start on Sunday, which
    matters only for weekly rules with interval > 1 and several weekdays.
    """

    frequency: str  # 'daily' | 'weekly' | 'monthly'
    interval: int = 1
    end_date: datetime | None = None  # aware; occurrences after it are not produced
    max_occurrences: int | None = None  # total occurrences, including the first
    by_weekday: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.frequency not in FREQUENCIES:
            raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}")
        if not isinstance(self.interval, int) or self.interval < 1:
            raise ValueError("interval must be a positive integer")
        if self.end_date is not None:
            _require_aware(self.end_date, "end_date")
        if self.max_occurrences is not None and (
            not isinstance(self.max_occurrences, int) or self.max_occurrences < 1
        ):
            raise ValueError("max_occurrences must be a positive integer")
        if self.by_weekday is not None:
            self._check_by_weekday()

    def _check_by_weekday(self) -> None:
        if self.frequency == "monthly":
            raise ValueError("by_weekday applies to daily and weekly rules only")
        days = tuple(sorted(set(self.by_weekday)))
        if not days or not set(days) <= ALL_DAYS:
            raise ValueError("by_weekday must name days 0 (Sunday) to 6 (Saturday)")
        object.__setattr__(self, "by_weekday", days)


# --------------------------------------------------------------------------- parsing


def parse_hhmm(s: str) -> time:
    """'HH:MM' (00:00-23:59, two digits each) -> time.

    '24:00' is rejected on purpose: this parser does not know whether it reads
    a start or an end, and an end of midnight is already expressible as
    '00:00' because an end <= start wraps to the next day (08:00-00:00 runs
    until midnight).
    """
    match = _HHMM.fullmatch(s) if isinstance(s, str) else None
    if match is None:
        raise ValueError(f"expected a time as 'HH:MM' (e.g. '08:00'), got {s!r}")
    hour, minute = int(match[1]), int(match[2])
    if hour == 24 and minute == 0:
        raise ValueError("'24:00' is not accepted; use '00:00' (an end <= start means the next day)")
    if hour > 23 or minute > 59:
        raise ValueError(f"time out of range (00:00-23:59): {s!r}")
    return time(hour, minute)


# --------------------------------------------------------------------------- zones


def resolve_local(local: datetime, tz: str) -> tuple[datetime, str | None]:
    """Naive local wall time in zone `tz` -> (aware UTC instant, note).

    DST rule:
    * a time in a spring-forward GAP (it never shows on a clock) is moved
      forward by the gap's length: America/New_York 2026-03-08 02:30 becomes
      03:30 EDT = 07:30Z, note 'nonexistent_local_time_shifted_forward';
    * an AMBIGUOUS time in a fall-back overlap (it shows twice) takes the
      FIRST occurrence, the earlier instant on the DST side: 2026-11-01 01:30
      New York becomes 01:30 EDT = 05:30Z, note
      'ambiguous_local_time_first_occurrence';
    * otherwise the note is None.
    Raises ValueError (UnknownTimezone) for an unknown zone and for an aware `local`.
    """
    if local.tzinfo is not None:
        raise ValueError("resolve_local expects a naive local datetime")
    zone = _zone(tz)
    earlier, later = local.replace(tzinfo=zone, fold=0), local.replace(tzinfo=zone, fold=1)
    before, after = earlier.utcoffset(), later.utcoffset()
    if before == after:
        return earlier.astimezone(UTC), None
    # Per PEP 495, fold=0 uses the offset from before the transition. In an
    # overlap that is the first occurrence; in a gap it reads the wall time
    # with the old offset, which lands exactly `gap` later on the new clock.
    note = NOTE_AMBIGUOUS if before > after else NOTE_NONEXISTENT
    return earlier.astimezone(UTC), note


def zones_for_number(e164: str) -> tuple[str, ...]:
    """IANA zones phonenumbers associates with the number, () when unknown.

    The names are phonenumbers' (some are legacy aliases such as
    'Asia/Calcutta', which zoneinfo still accepts). Callers must decide what
    () means for them: a Window with no zones is evaluated in UTC, which is
    rarely what a callee experiences. Raises ValueError if `e164` does not
    parse as a phone number at all.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {e164!r} ({exc})") from None
    zones = phone_timezone.time_zones_for_number(number)
    return tuple(z for z in dict.fromkeys(zones) if z != phone_timezone.UNKNOWN_TIMEZONE)


@functools.lru_cache(maxsize=512)
def _zone(key: str) -> ZoneInfo:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise UnknownTimezone(f"unknown time zone: {key!r}") from None


def _first_instant_at(local: datetime, zone: ZoneInfo) -> datetime:
    """The first instant at which clocks in `zone` read `local` or later.

    Differs from resolve_local only in a gap: a window boundary there happens
    at the transition itself (the first valid instant), not `gap` later.
    """
    earlier, later = local.replace(tzinfo=zone, fold=0), local.replace(tzinfo=zone, fold=1)
    before, after = earlier.utcoffset(), later.utcoffset()
    if before >= after:  # normal, or an overlap where fold=0 is the first reading
        return earlier.astimezone(UTC)
    # Gap: the transition lies between reading `local` with the new offset
    # and with the old one. zoneinfo does not expose transitions, so bisect on
    # whole seconds (tz transitions happen on whole seconds).
    low = int((local - after).replace(tzinfo=UTC).timestamp())  # still on the old offset
    high = int((local - before).replace(tzinfo=UTC).timestamp()) + 1  # already on the new one
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


# --------------------------------------------------------------------------- windows


def is_allowed(instant: datetime, window: Window) -> bool:
    """Whether `instant` (aware) lies inside the window in every one of its zones."""
    _require_aware(instant, "instant")
    instant = instant.astimezone(UTC)
    return all(_earliest_in_zone(instant, window, zone) == instant for zone in _window_zones(window))


def next_allowed(
    instant: datetime, window: Window, *, horizon: timedelta = timedelta(days=14)
) -> datetime | None:
    """Earliest instant >= `instant` at which the window holds in EVERY zone.

    Returns aware UTC, exact to the second or better (window boundaries are
    computed, not scanned for). None when no such instant exists within
    `instant + horizon`, e.g. zones so far apart that their windows never
    overlap, or no days_of_week at all.
    """
    _require_aware(instant, "instant")
    if horizon < timedelta(0):
        raise ValueError("horizon must not be negative")
    zones = _window_zones(window)
    candidate = instant.astimezone(UTC)
    limit = candidate + horizon
    # Each zone either allows the candidate or pushes it to that zone's next
    # opening; nothing in between can be allowed everywhere, so the first
    # candidate every zone accepts is the answer. Every push lands on a
    # distinct window opening, which bounds the passes.
    max_passes = (horizon.days + 3) * len(zones) + 2
    for _ in range(max_passes):
        moved = False
        for zone in zones:
            earliest = _earliest_in_zone(candidate, window, zone)
            if earliest is None or earliest > limit:
                return None
            if earliest != candidate:
                candidate, moved = earliest, True
        if not moved:
            return candidate
    return None


def next_allowed_in_all(
    instant: datetime, windows: Iterable[Window], *, horizon: timedelta = timedelta(days=14)
) -> datetime | None:
    """Earliest instant >= `instant` inside every one of `windows` (a
    campaign's hours and the callee's own window, say), or None within
    `horizon`. Each window pushes the candidate to its next opening until
    they all agree, as next_allowed does across zones."""
    windows = list(windows)
    candidate, limit = instant, instant + horizon
    for _ in range((horizon.days + 3) * max(1, len(windows)) * 2):
        moved = False
        for window in windows:
            earliest = next_allowed(candidate, window, horizon=limit - candidate)
            if earliest is None:
                return None
            if earliest != candidate:
                candidate, moved = earliest, True
        if not moved:
            return candidate
    return None


def _window_zones(window: Window) -> list[ZoneInfo]:
    return [_zone(key) for key in window.timezones or ("UTC",)]


def _earliest_in_zone(candidate: datetime, window: Window, zone: ZoneInfo) -> datetime | None:
    """Earliest instant >= `candidate` inside one of the window's instances in `zone`.

    Instances are scanned in day order from the local day before (a wrapping
    window may still be open from yesterday) through a full week ahead (the
    next permitted weekday); their openings only move forward, so the first
    instance still open after `candidate` holds the answer.
    """
    today = candidate.astimezone(zone).date()
    first_day = today - timedelta(days=1) if window.wraps else today
    for offset in range(9):
        day = first_day + timedelta(days=offset)
        if _sunday_based_weekday(day) not in window.days_of_week:
            continue
        opens, closes = _instance(day, window.start, window.end, zone)
        if closes > candidate and opens < closes:  # empty only if it all fell in a DST gap
            return max(opens, candidate)
    return None


# Pure and hit repeatedly (every pass of next_allowed re-checks every zone, and
# a service asks about the same few days all day), so memoising it is what keeps
# a 40-zone toll-free number cheap. Entries are tiny; the bound caps memory.
@functools.lru_cache(maxsize=8192)
def _instance(day: date, start: time, end: time, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[opens, closes) in UTC of the window instance that starts on local `day`."""
    end_day = day + timedelta(days=1) if end <= start else day
    opens = _first_instant_at(datetime.combine(day, start), zone)
    closes = _first_instant_at(datetime.combine(end_day, end), zone)
    return opens, closes


def _sunday_based_weekday(day: date) -> int:
    return (day.weekday() + 1) % 7  # Python: Monday=0; ours: Sunday=0


# --------------------------------------------------------------------------- recurrences


def occurrence(anchor_local: datetime, tz: str, recurrence: Recurrence, n: int) -> datetime | None:
    """The n-th occurrence (n=1 is the first, normally the anchor) as aware UTC,
    or None past end_date / max_occurrences.

    Occurrences are generated by dateutil.rrule on NAIVE local wall times in
    the schedule's zone, so 10:00 stays 10:00 across DST, and each is then
    resolved with resolve_local (gap -> shifted forward, overlap -> first).
    If the anchor itself does not match the rule (a Saturday anchor for an
    every-weekday rule), occurrence 1 is the first match after it.

    Monthly on a day some months lack (29th-31st): those months use their
    LAST day (31st -> Feb 28/29, Apr 30), never skipping a month or spilling
    into the next one. Seconds are kept, microseconds dropped (rrule's
    resolution).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError("n must be a positive integer (1 is the first occurrence)")
    for index, instant in _occurrences(anchor_local, tz, recurrence):
        if index == n:
            return instant
    return None


def next_occurrence_after(
    anchor_local: datetime, tz: str, recurrence: Recurrence, after: datetime
) -> tuple[int, datetime] | None:
    """(n, instant) of the first occurrence strictly after `after` (aware),
    or None when the schedule has ended by then. Same rules as occurrence()."""
    _require_aware(after, "after")
    for n, instant in _occurrences(anchor_local, tz, recurrence):
        if instant > after:
            return n, instant
    return None


def _occurrences(anchor_local: datetime, tz: str, recurrence: Recurrence) -> Iterator[tuple[int, datetime]]:
    """(n, UTC instant) for each occurrence, stopping at the schedule's limits."""
    if anchor_local.tzinfo is not None:
        raise ValueError("anchor_local must be a naive local datetime")
    _zone(tz)  # an unknown zone should fail even for a schedule that has already ended
    for n, local in enumerate(_local_rule(anchor_local, recurrence), start=1):
        if recurrence.max_occurrences is not None and n > recurrence.max_occurrences:
            return
        instant, _ = resolve_local(local, tz)
        # Limits apply to the real instant, not the wall time, so an end_date
        # set in UTC cuts exactly where the caller meant.
        if recurrence.end_date is not None and instant > recurrence.end_date:
            return
        yield n, instant


def _local_rule(anchor_local: datetime, recurrence: Recurrence) -> rrule.rrule:
    freq = {"daily": rrule.DAILY, "weekly": rrule.WEEKLY, "monthly": rrule.MONTHLY}[recurrence.frequency]
    options: dict = {"dtstart": anchor_local, "interval": recurrence.interval, "wkst": rrule.SU}
    if recurrence.by_weekday is not None:
        options["byweekday"] = [(day + 6) % 7 for day in recurrence.by_weekday]  # rrule: Monday=0
    if recurrence.frequency == "monthly" and anchor_local.day > 28:
        # Candidates are the anchor's day and the month's last day; the first
        # that exists wins: the 31st in long months, the 30th/28th/29th else.
        options["bymonthday"] = [anchor_local.day, -1]
        options["bysetpos"] = 1
    return rrule.rrule(freq, **options)


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def single_zone(e164: str) -> str | None:
    """The number's time zone when it is unambiguous: one zone, or several
    that keep the same clock all year (a UK mobile: London, Jersey, Guernsey,
    Isle of Man). Then the zone of the country's example fixed-line number is
    preferred, so the answer reads naturally (Europe/London)."""
    zones = zones_for_number(e164)
    if len(zones) <= 1:
        return zones[0] if zones else None
    samples = [datetime(2026, month, day, 12, tzinfo=UTC) for month in range(1, 13) for day in (1, 15)]
    clocks = {tuple(t.astimezone(ZoneInfo(zone)).utcoffset() for t in samples) for zone in zones}
    if len(clocks) != 1:
        return None
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164))
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.FIXED_LINE)
    preferred = zones_for_number(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)) \
        if example else ()
    return next((zone for zone in preferred if zone in zones), zones[0])
