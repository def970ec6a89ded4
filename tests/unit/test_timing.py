import random
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from chalicelib import timing
from chalicelib.timing import (
    DEFAULT_WINDOW_END,
    DEFAULT_WINDOW_START,
    NOTE_AMBIGUOUS,
    NOTE_NONEXISTENT,
    Recurrence,
    UnknownTimezone,
    Window,
    is_allowed,
    next_allowed,
    next_occurrence_after,
    occurrence,
    parse_hhmm,
    resolve_local,
    zones_for_number,
)

UTC = timezone.utc
NY = "America/New_York"
KOLKATA = "Asia/Kolkata"
MON_FRI = frozenset({1, 2, 3, 4, 5})  # 0=Sunday
AU_MOBILE = "+61412345678"  # Australian mobile: phonenumbers can't place it, so every AU zone
US_TOLL_FREE = "+18005551234"  # every NANP zone, Guam to St John's


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --------------------------------------------------------------------------- resolve_local


def test_spring_forward_gap_is_shifted_forward_by_the_gap():
    # 2026-03-08 02:00 EST -> 03:00 EDT: 02:30 never shows on a New York clock.
    assert resolve_local(datetime(2026, 3, 8, 2, 30), NY) == (utc(2026, 3, 8, 7, 30), NOTE_NONEXISTENT)
    assert NOTE_NONEXISTENT == "nonexistent_local_time_shifted_forward"


def test_fall_back_overlap_takes_the_first_occurrence():
    # 2026-11-01 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
    assert resolve_local(datetime(2026, 11, 1, 1, 30), NY) == (utc(2026, 11, 1, 5, 30), NOTE_AMBIGUOUS)
    assert NOTE_AMBIGUOUS == "ambiguous_local_time_first_occurrence"


def test_ordinary_times_have_no_note():
    assert resolve_local(datetime(2026, 7, 1, 9, 0), NY) == (utc(2026, 7, 1, 13, 0), None)
    assert resolve_local(datetime(2026, 1, 1, 9, 0), NY) == (utc(2026, 1, 1, 14, 0), None)
    # Just outside the special hours on transition days.
    assert resolve_local(datetime(2026, 3, 8, 3, 0), NY) == (utc(2026, 3, 8, 7, 0), None)
    assert resolve_local(datetime(2026, 11, 1, 2, 0), NY) == (utc(2026, 11, 1, 7, 0), None)


def test_kolkata_half_hour_offset_without_dst():
    for month in (1, 3, 7, 11):
        assert resolve_local(datetime(2026, month, 8, 10, 0), KOLKATA) == (utc(2026, month, 8, 4, 30), None)


def test_resolve_local_rejects_unknown_zones_and_aware_input():
    with pytest.raises(ValueError):
        resolve_local(datetime(2026, 1, 1), "Mars/Olympus_Mons")
    with pytest.raises(UnknownTimezone):
        resolve_local(datetime(2026, 1, 1), "../etc/passwd")
    with pytest.raises(ValueError):
        resolve_local(utc(2026, 1, 1), NY)


# --------------------------------------------------------------------------- zones_for_number


def test_zones_for_a_single_zone_number():
    assert zones_for_number("+12125551234") == ("America/New_York",)


def test_zones_for_a_multi_zone_number():
    zones = zones_for_number(AU_MOBILE)
    assert set(zones) == {
        "Australia/Adelaide", "Australia/Brisbane", "Australia/Eucla", "Australia/Lord_Howe",
        "Australia/Perth", "Australia/Sydney", "Indian/Christmas", "Indian/Cocos",
    }
    assert len(zones_for_number(US_TOLL_FREE)) > 30


def test_zones_for_an_unplaceable_number_is_empty():
    assert zones_for_number("+15555551234") == ()


def test_zones_for_garbage_is_an_error():
    with pytest.raises(ValueError):
        zones_for_number("not a number")


# --------------------------------------------------------------------------- parse_hhmm


@pytest.mark.parametrize("text, expected", [
    ("00:00", time(0, 0)), ("08:00", time(8, 0)), ("21:30", time(21, 30)), ("23:59", time(23, 59)),
])
def test_parse_hhmm(text, expected):
    assert parse_hhmm(text) == expected


@pytest.mark.parametrize("text", [
    "24:00", "24:01", "23:60", "8:00", "08:0", "0800", " 08:00", "08:00 ", "08:00:00", "", "ab:cd", "٠٨:٠٠", None,
])
def test_parse_hhmm_rejects(text):
    with pytest.raises(ValueError, match="HH:MM|24:00|out of range"):
        parse_hhmm(text)


# --------------------------------------------------------------------------- Window


def test_window_validates_and_normalises():
    window = Window(time(8), time(21), [1, 2, 3], [NY, NY, KOLKATA])
    assert window.days_of_week == frozenset({1, 2, 3})
    assert window.timezones == (NY, KOLKATA)
    with pytest.raises(ValueError):
        Window(time(8), time(21), frozenset({7}))
    with pytest.raises(ValueError):
        Window(time(8), time(21), timezones=("Nowhere/Special",))
    with pytest.raises(ValueError):
        Window(time(8, tzinfo=UTC), time(21))


def test_naive_instants_are_rejected():
    window = Window(DEFAULT_WINDOW_START, DEFAULT_WINDOW_END)
    with pytest.raises(ValueError):
        is_allowed(datetime(2026, 1, 1, 12), window)
    with pytest.raises(ValueError):
        next_allowed(datetime(2026, 1, 1, 12), window)


# --------------------------------------------------------------------------- next_allowed


def test_weekdays_window_across_a_weekend():
    window = Window(DEFAULT_WINDOW_START, DEFAULT_WINDOW_END, MON_FRI, (NY,))
    friday_2059 = utc(2026, 5, 2, 0, 59)  # Fri 2026-05-01 20:59 EDT
    assert is_allowed(friday_2059, window)
    assert next_allowed(friday_2059, window) == friday_2059
    friday_2100 = utc(2026, 5, 2, 1, 0)
    assert not is_allowed(friday_2100, window)
    assert next_allowed(friday_2100, window) == utc(2026, 5, 4, 12, 0)  # Mon 08:00 EDT
    saturday_noon = utc(2026, 5, 2, 16, 0)
    assert next_allowed(saturday_noon, window) == utc(2026, 5, 4, 12, 0)


def test_window_start_keeps_local_time_across_dst():
    window = Window(DEFAULT_WINDOW_START, DEFAULT_WINDOW_END, timezones=(NY,))
    # Sat 2026-03-07 22:00 EST; the clocks spring forward overnight.
    assert next_allowed(utc(2026, 3, 8, 3, 0), window) == utc(2026, 3, 8, 12, 0)  # 08:00 EDT
    # Sat 2026-10-31 22:00 EDT; the clocks fall back overnight.
    assert next_allowed(utc(2026, 11, 1, 2, 0), window) == utc(2026, 11, 1, 13, 0)  # 08:00 EST


def test_window_start_inside_a_dst_gap_opens_at_the_first_valid_instant():
    window = Window(time(2, 30), time(5, 0), timezones=(NY,))
    # Midnight EST on 2026-03-08: 02:30 does not exist, the window opens at 03:00 EDT.
    assert next_allowed(utc(2026, 3, 8, 5, 0), window) == utc(2026, 3, 8, 7, 0)
    assert not is_allowed(utc(2026, 3, 8, 6, 59), window)


def test_window_ending_in_a_repeated_hour_closes_at_its_first_reading():
    window = Window(time(0, 0), time(1, 30), timezones=(NY,))
    assert is_allowed(utc(2026, 11, 1, 5, 29), window)  # 01:29 EDT
    # 01:30 EDT closes it; the repeated 01:00-01:30 EST stays closed (conservative).
    assert not is_allowed(utc(2026, 11, 1, 5, 30), window)
    assert not is_allowed(utc(2026, 11, 1, 6, 15), window)  # 01:15 EST
    assert next_allowed(utc(2026, 11, 1, 5, 30), window) == utc(2026, 11, 2, 5, 0)  # Mon 00:00 EST


def test_window_in_a_half_hour_zone():
    window = Window(time(9), time(18), timezones=(KOLKATA,))
    assert next_allowed(utc(2026, 6, 1, 3, 0), window) == utc(2026, 6, 1, 3, 30)  # 08:30 -> 09:00 IST
    assert next_allowed(utc(2026, 6, 1, 12, 29), window) == utc(2026, 6, 1, 12, 29)
    assert next_allowed(utc(2026, 6, 1, 12, 30), window) == utc(2026, 6, 2, 3, 30)  # 18:00 -> tomorrow


def test_window_wrapping_midnight():
    window = Window(time(22), time(6), timezones=("UTC",))
    assert is_allowed(utc(2026, 6, 1, 23, 0), window)
    assert is_allowed(utc(2026, 6, 2, 5, 59), window)
    assert next_allowed(utc(2026, 6, 2, 6, 0), window) == utc(2026, 6, 2, 22, 0)


def test_wrapping_window_belongs_to_the_day_it_starts():
    window = Window(time(22), time(6), frozenset({5}), (NY,))  # Friday nights only
    assert is_allowed(utc(2026, 5, 2, 7, 0), window)  # Sat 03:00 EDT, still Friday's window
    assert next_allowed(utc(2026, 5, 2, 10, 0), window) == utc(2026, 5, 9, 2, 0)  # next Fri 22:00 EDT


def test_empty_utc_default_and_full_day_windows():
    assert next_allowed(utc(2026, 6, 1, 7, 0), Window(time(8), time(21))) == utc(2026, 6, 1, 8, 0)
    always = Window(time(0), time(0))
    assert is_allowed(utc(2026, 6, 1, 3, 17), always)


@pytest.mark.parametrize("number", [AU_MOBILE, US_TOLL_FREE])
@pytest.mark.parametrize("start", [utc(2026, 1, 15, 3, 0), utc(2026, 6, 15, 3, 0), utc(2026, 10, 3, 20, 0)])
def test_multi_zone_number_must_satisfy_every_zone(number, start):
    zones = zones_for_number(number)
    window = Window(DEFAULT_WINDOW_START, DEFAULT_WINDOW_END, timezones=zones)
    found = next_allowed(start, window)
    assert found is not None
    for zone in zones:
        assert time(8) <= found.astimezone(ZoneInfo(zone)).time() < time(21), zone
    before = found - timedelta(minutes=1)
    assert found == start or not all(
        time(8) <= before.astimezone(ZoneInfo(zone)).time() < time(21) for zone in zones
    )


def test_multi_zone_australian_mobile_exact_values():
    window = Window(DEFAULT_WINDOW_START, DEFAULT_WINDOW_END, timezones=zones_for_number(AU_MOBILE))
    # Opens when Cocos (+06:30) reaches 08:00; closes when Lord Howe (+10:30 winter, +11 summer) hits 21:00.
    assert next_allowed(utc(2026, 6, 15, 0, 0), window) == utc(2026, 6, 15, 1, 30)
    assert next_allowed(utc(2026, 6, 15, 10, 29), window) == utc(2026, 6, 15, 10, 29)
    assert next_allowed(utc(2026, 6, 15, 10, 30), window) == utc(2026, 6, 16, 1, 30)
    assert not is_allowed(utc(2026, 1, 15, 10, 0), window)  # Lord Howe summer: 21:00 already


def test_us_toll_free_exact_values():
    window = Window(DEFAULT_WINDOW_START, DEFAULT_WINDOW_END, timezones=zones_for_number(US_TOLL_FREE))
    # Guam (+10) opens at 22:00Z; summer St John's (-02:30) closes at 23:30Z.
    assert next_allowed(utc(2026, 7, 15, 12, 0), window) == utc(2026, 7, 15, 22, 0)
    assert next_allowed(utc(2026, 7, 15, 23, 30), window) == utc(2026, 7, 16, 22, 0)


def test_zones_that_never_overlap_give_none():
    window = Window(time(9), time(17), timezones=("Asia/Tokyo", NY))
    assert next_allowed(utc(2026, 6, 1), window) is None
    assert next_allowed(utc(2026, 6, 1), Window(time(9), time(17), frozenset())) is None


def test_horizon_bounds_the_search():
    window = Window(DEFAULT_WINDOW_START, DEFAULT_WINDOW_END, frozenset({1}), (NY,))  # Mondays
    tuesday = utc(2026, 6, 2, 16, 0)
    assert next_allowed(tuesday, window, horizon=timedelta(days=3)) is None
    assert next_allowed(tuesday, window) == utc(2026, 6, 8, 12, 0)


# --------------------------------------------------------------------------- next_allowed, property style

PROPERTY_ZONES = [
    "UTC", NY, "America/Los_Angeles", "America/St_Johns", "Europe/London", "Europe/Berlin",
    "Australia/Sydney", "Australia/Lord_Howe", KOLKATA, "Asia/Kathmandu", "Pacific/Chatham",
]


def _wall_clock_allowed(instant: datetime, window: Window) -> bool:
    """An independent oracle: read each zone's clock and compare.

    It agrees with timing's interval rule everywhere except a boundary inside
    a fall-back repeated hour, which the random windows below avoid.
    """
    for key in window.timezones or ("UTC",):
        local = instant.astimezone(ZoneInfo(key))
        today = (local.weekday() + 1) % 7
        yesterday = (today - 1) % 7
        clock = local.time().replace(tzinfo=None)
        if window.end > window.start:
            ok = window.start <= clock < window.end and today in window.days_of_week
        else:
            ok = (clock >= window.start and today in window.days_of_week) or (
                clock < window.end and yesterday in window.days_of_week
            )
        if not ok:
            return False
    return True


def _random_boundary(rng: random.Random) -> time:
    # Skip 01:00-04:00 local, where these zones repeat an hour in autumn.
    minute = rng.choice([rng.randrange(0, 60), rng.randrange(4 * 60, 24 * 60)])
    return time(minute // 60, minute % 60)


def _random_window(rng: random.Random) -> Window:
    days = frozenset(rng.sample(range(7), rng.randint(2, 7)))
    zones = tuple(rng.sample(PROPERTY_ZONES, rng.choice([1, 1, 2, 3])))
    return Window(_random_boundary(rng), _random_boundary(rng), days, zones)


def _random_instant(rng: random.Random) -> datetime:
    # Bias towards DST transition seasons, seconds included.
    base = rng.choice([utc(2026, 3, 6), utc(2026, 3, 27), utc(2026, 4, 3), utc(2026, 9, 25),
                       utc(2026, 10, 23), utc(2026, 10, 30), utc(2026, 1, 10), utc(2026, 7, 10)])
    return base + timedelta(seconds=rng.randrange(4 * 24 * 3600))


def _assert_no_allowed_minute(start: datetime, end: datetime, window: Window) -> None:
    assert not _wall_clock_allowed(start, window)
    minute = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute < end:
        assert not _wall_clock_allowed(minute, window), minute
        minute += timedelta(minutes=1)


def test_next_allowed_property_over_random_instants():
    rng = random.Random(20260308)
    horizon = timedelta(days=3)  # short, so a None answer can be checked exhaustively
    for _ in range(120):
        window, instant = _random_window(rng), _random_instant(rng)
        found = next_allowed(instant, window, horizon=horizon)
        if found is None:
            _assert_no_allowed_minute(instant, instant + horizon, window)
            continue
        assert found >= instant and found.tzinfo is UTC
        assert is_allowed(found, window) and _wall_clock_allowed(found, window), (window, instant, found)
        if found > instant:
            assert found.second == 0 and found.microsecond == 0  # boundaries sit on minutes
            _assert_no_allowed_minute(instant, found, window)


def test_next_allowed_property_around_a_spring_forward_gap():
    # Boundaries inside the New York gap (02:00-03:00) on and around 2026-03-08.
    rng = random.Random(7)
    for _ in range(60):
        start, end = time(2, rng.randrange(60)), time(rng.choice([2, 3, 5, 22]), rng.randrange(60))
        window = Window(start, end, timezones=(NY,))
        instant = utc(2026, 3, 7, 12) + timedelta(seconds=rng.randrange(2 * 24 * 3600))
        found = next_allowed(instant, window)
        assert found is not None and _wall_clock_allowed(found, window), (window, instant, found)
        if found > instant:
            _assert_no_allowed_minute(instant, found, window)


# --------------------------------------------------------------------------- recurrences


def test_every_weekday_at_ten_in_kolkata():
    rule = Recurrence("daily", by_weekday=(1, 2, 3, 4, 5))
    monday = datetime(2026, 6, 1, 10, 0)
    got = [occurrence(monday, KOLKATA, rule, n) for n in range(1, 8)]
    assert got == [utc(2026, 6, d, 4, 30) for d in (1, 2, 3, 4, 5, 8, 9)]


def test_weekday_rule_anchored_on_a_weekend_starts_on_the_next_match():
    rule = Recurrence("weekly", by_weekday=(1, 2, 3, 4, 5))
    saturday = datetime(2026, 6, 6, 10, 0)
    assert occurrence(saturday, KOLKATA, rule, 1) == utc(2026, 6, 8, 4, 30)


def test_weekly_repeats_on_the_anchor_weekday():
    rule = Recurrence("weekly", interval=2)
    wednesday = datetime(2026, 6, 3, 10, 0)
    assert [occurrence(wednesday, NY, rule, n) for n in (1, 2, 3)] == [
        utc(2026, 6, 3, 14), utc(2026, 6, 17, 14), utc(2026, 7, 1, 14)]


def test_daily_keeps_local_wall_time_across_dst():
    rule = Recurrence("daily")
    anchor = datetime(2026, 3, 7, 10, 0)
    assert occurrence(anchor, NY, rule, 1) == utc(2026, 3, 7, 15, 0)  # EST
    assert occurrence(anchor, NY, rule, 2) == utc(2026, 3, 8, 14, 0)  # EDT
    gap_anchor = datetime(2026, 3, 7, 2, 30)
    assert occurrence(gap_anchor, NY, rule, 2) == utc(2026, 3, 8, 7, 30)  # shifted forward
    assert occurrence(gap_anchor, NY, rule, 3) == utc(2026, 3, 9, 6, 30)


def test_monthly_on_the_31st_uses_the_last_day_of_short_months():
    rule = Recurrence("monthly")
    anchor = datetime(2026, 1, 31, 9, 0)
    got = [occurrence(anchor, NY, rule, n) for n in range(1, 13)]
    expected_days = [(1, 31), (2, 28), (3, 31), (4, 30), (5, 31), (6, 30),
                     (7, 31), (8, 31), (9, 30), (10, 31), (11, 30), (12, 31)]
    # 09:00 EST is 14:00Z; 09:00 EDT (Mar 8 - Nov 1) is 13:00Z.
    expected = [utc(2026, m, d, 14 if m in (1, 2, 11, 12) else 13) for m, d in expected_days]
    assert got == expected


def test_monthly_on_the_31st_in_a_leap_year_and_on_the_30th():
    assert occurrence(datetime(2027, 12, 31, 9), NY, Recurrence("monthly"), 3) == utc(2028, 2, 29, 14)
    thirtieth = [occurrence(datetime(2026, 1, 30, 9), NY, Recurrence("monthly"), n) for n in (2, 3)]
    assert thirtieth == [utc(2026, 2, 28, 14), utc(2026, 3, 30, 13)]  # not Mar 2, not Mar 31


def test_max_occurrences_cuts_off():
    rule = Recurrence("daily", max_occurrences=3)
    anchor = datetime(2026, 6, 1, 10)
    assert occurrence(anchor, KOLKATA, rule, 3) == utc(2026, 6, 3, 4, 30)
    assert occurrence(anchor, KOLKATA, rule, 4) is None
    assert next_occurrence_after(anchor, KOLKATA, rule, utc(2026, 6, 3, 4, 30)) is None


def test_end_date_cuts_off_inclusively():
    rule = Recurrence("daily", end_date=utc(2026, 6, 3, 4, 30))
    anchor = datetime(2026, 6, 1, 10)
    assert occurrence(anchor, KOLKATA, rule, 3) == utc(2026, 6, 3, 4, 30)
    assert occurrence(anchor, KOLKATA, rule, 4) is None
    earlier_end = Recurrence("daily", end_date=utc(2026, 6, 3, 4, 29))
    assert occurrence(anchor, KOLKATA, earlier_end, 3) is None


def test_next_occurrence_after_is_strict():
    rule = Recurrence("daily")
    anchor = datetime(2026, 6, 1, 10)
    assert next_occurrence_after(anchor, KOLKATA, rule, utc(2026, 5, 1)) == (1, utc(2026, 6, 1, 4, 30))
    assert next_occurrence_after(anchor, KOLKATA, rule, utc(2026, 6, 1, 4, 30)) == (2, utc(2026, 6, 2, 4, 30))
    assert next_occurrence_after(anchor, KOLKATA, rule, utc(2026, 6, 10, 12)) == (11, utc(2026, 6, 11, 4, 30))


@pytest.mark.parametrize("kwargs", [
    {"frequency": "yearly"},
    {"frequency": "daily", "interval": 0},
    {"frequency": "daily", "max_occurrences": 0},
    {"frequency": "daily", "end_date": datetime(2026, 1, 1)},
    {"frequency": "monthly", "by_weekday": (1,)},
    {"frequency": "daily", "by_weekday": ()},
    {"frequency": "daily", "by_weekday": (7,)},
])
def test_recurrence_validation(kwargs):
    with pytest.raises(ValueError):
        Recurrence(**kwargs)


def test_occurrence_argument_checks():
    with pytest.raises(ValueError):
        occurrence(datetime(2026, 1, 1), NY, Recurrence("daily"), 0)
    with pytest.raises(ValueError):
        occurrence(utc(2026, 1, 1), NY, Recurrence("daily"), 1)
    with pytest.raises(ValueError):
        occurrence(datetime(2026, 1, 1), "Nowhere/Special", Recurrence("daily"), 1)
    with pytest.raises(ValueError):
        next_occurrence_after(datetime(2026, 1, 1), NY, Recurrence("daily"), datetime(2026, 1, 2))


@pytest.mark.parametrize("number, zone", [
    ("+14155552671", "America/Los_Angeles"),   # one zone
    ("+447123456789", "Europe/London"),        # four zones that keep the same clock
    ("+18005551234", None),                    # US toll-free: anywhere from Guam to Newfoundland
    ("+61412345678", None),                    # Australian mobile: several different clocks
])
def test_single_zone(number, zone):
    assert timing.single_zone(number) == zone
