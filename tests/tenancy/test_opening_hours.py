"""Opening hours in Europe/Copenhagen wall-clock time: DST, weekends, holidays, closures, period edges.

Every expected instant is worked out by hand and written in UTC together with the local UTC offset that the
answer must carry. Aware datetimes in the same zone compare by wall clock only (``fold`` is ignored), so the
assertions always compare in UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.tenancy.opening_hours import (
    WEEKDAYS,
    Closure,
    OpeningCalendar,
    Period,
    _country_holidays,
    parse_periods,
    public_closures,
)

CPH = ZoneInfo("Europe/Copenhagen")
UTC = dt.UTC
CET = dt.timedelta(hours=1)
CEST = dt.timedelta(hours=2)
TICK = dt.timedelta(microseconds=1)

# Monday to Friday; Thursday has a lunch break.
KOMMUNE_HOURS = {
    "monday": ["08:00-15:00"],
    "tuesday": ["08:00-15:00"],
    "wednesday": ["08:00-15:00"],
    "thursday": ["10:00-12:00", "13:00-17:30"],
    "friday": ["08:00-15:00"],
}


def kommune(**kwargs: Any) -> OpeningCalendar:
    return OpeningCalendar.from_texts(KOMMUNE_HOURS, **kwargs)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=CPH, fold=fold)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def assert_instant(actual: dt.datetime | None, expected_utc: dt.datetime, offset: dt.timedelta) -> None:
    """``actual`` is the instant ``expected_utc`` and shows the local offset ``offset``."""
    assert actual is not None
    assert actual.astimezone(UTC) == expected_utc
    assert actual.utcoffset() == offset
    # The answer is given in the calendar's zone, with the right fold for the repeated autumn hour.
    assert actual.tzinfo is CPH
    assert actual.astimezone(UTC).astimezone(CPH).replace(tzinfo=None) == actual.replace(tzinfo=None)


# -- DST: spring forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00 UTC) --------------------------------------


def test_monday_opening_after_spring_forward_is_10_local_in_summer_time() -> None:
    calendar = OpeningCalendar.from_texts({"monday": ["10:00-15:00"]})
    opening = calendar.next_opening(local(2026, 3, 28, 12))  # Saturday before the change, CET
    assert_instant(opening, utc(2026, 3, 30, 8), CEST)


def test_is_open_just_before_and_after_spring_forward() -> None:
    calendar = OpeningCalendar.from_texts({"sunday": ["01:00-02:30"]}, public_holidays=False)
    last_cet_moment = utc(2026, 3, 29, 1) - TICK  # 01:59:59.999999 CET
    assert last_cet_moment.astimezone(CPH).utcoffset() == CET
    assert calendar.is_open(last_cet_moment)
    # One microsecond later the clock shows 03:00 CEST: after the period, although only 02:00 CET was reached.
    assert not calendar.is_open(utc(2026, 3, 29, 1))
    assert not calendar.is_open(local(2026, 3, 29, 3))


def test_period_ending_inside_spring_gap_closes_at_the_jump() -> None:
    calendar = OpeningCalendar.from_texts({"sunday": ["01:00-02:30"]}, public_holidays=False)
    closing = calendar.next_closing(local(2026, 3, 29, 1, 30))
    assert_instant(closing, utc(2026, 3, 29, 1), CEST)  # 03:00 CEST


def test_period_starting_inside_spring_gap_opens_at_03_summer_time() -> None:
    calendar = OpeningCalendar.from_texts({"sunday": ["02:30-04:00"]}, public_holidays=False)
    opening = calendar.next_opening(local(2026, 3, 29, 0, 30))
    assert_instant(opening, utc(2026, 3, 29, 1), CEST)  # 03:00 CEST
    assert not calendar.is_open(utc(2026, 3, 29, 1) - TICK)
    assert calendar.is_open(utc(2026, 3, 29, 1))
    assert_instant(calendar.next_closing(opening), utc(2026, 3, 29, 2), CEST)  # 04:00 CEST


def test_period_spanning_spring_gap_stays_open_through_the_jump() -> None:
    calendar = OpeningCalendar.from_texts({"sunday": ["01:00-04:00"]}, public_holidays=False)
    assert_instant(calendar.next_opening(local(2026, 3, 29, 0, 30)), utc(2026, 3, 29, 0), CET)
    assert calendar.is_open(utc(2026, 3, 29, 1) - TICK)
    assert calendar.is_open(utc(2026, 3, 29, 1))
    assert_instant(calendar.next_closing(local(2026, 3, 29, 1, 30)), utc(2026, 3, 29, 2), CEST)


def test_periods_on_both_sides_of_spring_gap_are_one_continuous_opening() -> None:
    # 01:00-02:15 ends at the jump and 02:30-04:00 starts at it: no closing and no opening at 03:00 CEST.
    calendar = OpeningCalendar.from_texts({"sunday": ["01:00-02:15", "02:30-04:00"]}, public_holidays=False)
    assert calendar.is_open(utc(2026, 3, 29, 1) - TICK)
    assert calendar.is_open(utc(2026, 3, 29, 1))
    assert_instant(calendar.next_closing(local(2026, 3, 29, 1, 30)), utc(2026, 3, 29, 2), CEST)
    # Already open, so the next opening is next Sunday's 01:00 (CEST by then).
    assert_instant(calendar.next_opening(local(2026, 3, 29, 1, 30)), utc(2026, 4, 4, 23), CEST)


def test_period_entirely_inside_spring_gap_never_opens_that_day() -> None:
    calendar = OpeningCalendar.from_texts({"sunday": ["02:00-02:30"]}, public_holidays=False)
    # The wall clock never shows 02:00-02:30 on 2026-03-29; the next time it does is Sunday 5 April.
    assert_instant(calendar.next_opening(local(2026, 3, 29, 0)), utc(2026, 4, 5, 0), CEST)


# -- DST: fall back 2026-10-25 03:00 CEST -> 02:00 CET (01:00 UTC) ------------------------------------------


def test_monday_opening_after_fall_back_is_10_local_in_winter_time() -> None:
    calendar = OpeningCalendar.from_texts({"monday": ["10:00-15:00"]})
    opening = calendar.next_opening(local(2026, 10, 24, 12))  # Saturday before the change, CEST
    assert_instant(opening, utc(2026, 10, 26, 9), CET)


def test_is_open_just_before_and_after_fall_back() -> None:
    calendar = OpeningCalendar.from_texts({"sunday": ["01:00-02:30"]}, public_holidays=False)
    last_cest_moment = utc(2026, 10, 25, 1) - TICK  # 02:59:59.999999 CEST
    assert last_cest_moment.astimezone(CPH).utcoffset() == CEST
    assert not calendar.is_open(last_cest_moment)
    # The clock goes back to 02:00 CET, inside the period again.
    assert calendar.is_open(utc(2026, 10, 25, 1))
    assert calendar.is_open(local(2026, 10, 25, 2, 0, fold=1))


def test_repeated_hour_is_open_on_both_folds_for_period_02_to_03() -> None:
    calendar = OpeningCalendar.from_texts({"sunday": ["02:00-03:00"]}, public_holidays=False)
    first, second = local(2026, 10, 25, 2, 30, fold=0), local(2026, 10, 25, 2, 30, fold=1)
    assert first.utcoffset() == CEST
    assert second.utcoffset() == CET
    assert calendar.is_open(first)
    assert calendar.is_open(second)
    assert not calendar.is_open(utc(2026, 10, 25, 0) - TICK)  # 01:59:59.999999 CEST
    assert not calendar.is_open(local(2026, 10, 25, 3))  # 03:00 CET
    # Opens at the first 02:00 and closes at 03:00 CET: two hours of real time, one opening.
    assert_instant(calendar.next_opening(local(2026, 10, 25, 1)), utc(2026, 10, 25, 0), CEST)
    assert_instant(calendar.next_closing(first), utc(2026, 10, 25, 2), CET)
    assert_instant(calendar.next_closing(second), utc(2026, 10, 25, 2), CET)
    assert calendar.is_open(utc(2026, 10, 25, 2) - TICK)
    # Open, so the next opening is the following Sunday, not the second 02:00.
    assert_instant(calendar.next_opening(first), utc(2026, 11, 1, 1), CET)


def test_closing_in_second_fold_is_after_the_instant_not_the_first_occurrence() -> None:
    # At 02:15 CET (second fold) the wall clock is inside 01:00-02:30 again; it closes at 02:30 CET.
    calendar = OpeningCalendar.from_texts({"sunday": ["01:00-02:30"]}, public_holidays=False)
    instant = local(2026, 10, 25, 2, 15, fold=1)
    assert calendar.is_open(instant)
    assert_instant(calendar.next_closing(instant), utc(2026, 10, 25, 1, 30), CET)
    # In the first fold it closes at 02:30 CEST.
    assert_instant(calendar.next_closing(local(2026, 10, 25, 2, 15)), utc(2026, 10, 25, 0, 30), CEST)


def test_period_starting_in_repeated_hour_opens_in_each_fold() -> None:
    calendar = OpeningCalendar.from_texts({"sunday": ["02:30-04:00"]}, public_holidays=False)
    assert_instant(calendar.next_opening(local(2026, 10, 25, 1)), utc(2026, 10, 25, 0, 30), CEST)
    # At 03:00 CEST the clock shows 02:00 CET, before the period: closed until 02:30 CET.
    assert_instant(calendar.next_closing(local(2026, 10, 25, 2, 45)), utc(2026, 10, 25, 1), CET)
    assert not calendar.is_open(local(2026, 10, 25, 2, 15, fold=1))
    opening = calendar.next_opening(local(2026, 10, 25, 2, 15, fold=1))
    assert_instant(opening, utc(2026, 10, 25, 1, 30), CET)  # not the earlier 02:30 CEST
    assert opening is not None
    assert_instant(calendar.next_closing(opening), utc(2026, 10, 25, 3), CET)


# -- weekends and public holidays ------------------------------------------------------------------------


def test_friday_evening_next_opening_is_monday_morning() -> None:
    calendar = kommune()
    assert not calendar.is_open(local(2026, 3, 6, 18))
    assert not calendar.is_open(local(2026, 3, 7, 10))  # Saturday
    assert_instant(calendar.next_opening(local(2026, 3, 6, 18)), utc(2026, 3, 9, 7), CET)


def test_easter_2026_closes_maundy_thursday_to_easter_monday() -> None:
    calendar = kommune()
    assert not calendar.is_open(local(2026, 4, 2, 10, 30))  # Skærtorsdag
    assert not calendar.is_open(local(2026, 4, 3, 10))  # Langfredag
    assert not calendar.is_open(local(2026, 4, 6, 10))  # Anden påskedag
    assert_instant(calendar.next_opening(local(2026, 4, 1, 18)), utc(2026, 4, 7, 6), CEST)
    assert [c.reason for c in calendar.closures_on(dt.date(2026, 4, 2))] == ["Skærtorsdag"]
    assert [c.reason for c in calendar.closures_on(dt.date(2026, 4, 3))] == ["Langfredag"]
    assert [c.reason for c in calendar.closures_on(dt.date(2026, 4, 6))] == ["Anden påskedag"]


def test_ascension_day_2026_is_closed() -> None:
    calendar = kommune()
    assert not calendar.is_open(local(2026, 5, 14, 10, 30))
    assert [c.reason for c in calendar.closures_on(dt.date(2026, 5, 14))] == ["Kristi himmelfartsdag"]
    assert_instant(calendar.next_opening(local(2026, 5, 13, 18)), utc(2026, 5, 15, 6), CEST)


def test_pentecost_monday_2026_is_closed() -> None:
    calendar = kommune()
    assert not calendar.is_open(local(2026, 5, 25, 10))
    assert [c.reason for c in calendar.closures_on(dt.date(2026, 5, 25))] == ["Anden pinsedag"]
    assert_instant(calendar.next_opening(local(2026, 5, 22, 18)), utc(2026, 5, 26, 6), CEST)


def test_christmas_2026_next_opening_from_23rd_is_28th() -> None:
    calendar = kommune()
    # 24 Thursday customary, 25 Friday and 26 Saturday holidays, 27 Sunday.
    assert not calendar.is_open(local(2026, 12, 24, 11))
    assert not calendar.is_open(local(2026, 12, 25, 10))
    assert [c.reason for c in calendar.closures_on(dt.date(2026, 12, 24))] == ["Juleaftensdag"]
    assert [c.reason for c in calendar.closures_on(dt.date(2026, 12, 25))] == ["Juledag"]
    assert [c.reason for c in calendar.closures_on(dt.date(2026, 12, 26))] == ["Anden juledag"]
    assert_instant(calendar.next_opening(local(2026, 12, 23, 18)), utc(2026, 12, 28, 7), CET)


def test_christmas_explicit_closure_on_28th_moves_opening_to_29th() -> None:
    calendar = kommune(closures=[Closure(dt.date(2026, 12, 28), "Mellem jul og nytår")])
    assert_instant(calendar.next_opening(local(2026, 12, 23, 18)), utc(2026, 12, 29, 7), CET)


def test_new_years_eve_and_new_years_day_are_closed() -> None:
    calendar = kommune()
    assert not calendar.is_open(local(2026, 12, 31, 9))  # Thursday
    assert not calendar.is_open(local(2027, 1, 1, 9))  # Friday
    assert [c.reason for c in calendar.closures_on(dt.date(2026, 12, 31))] == ["Nytårsaftensdag"]
    assert [c.reason for c in calendar.closures_on(dt.date(2027, 1, 1))] == ["Nytårsdag"]
    assert_instant(calendar.next_opening(local(2026, 12, 30, 18)), utc(2027, 1, 4, 7), CET)


def test_great_prayer_day_closed_in_2023_open_from_2024() -> None:
    calendar = kommune()
    assert not calendar.is_open(local(2023, 5, 5, 10))
    assert [c.reason for c in calendar.closures_on(dt.date(2023, 5, 5))] == ["Store bededag"]
    assert_instant(calendar.next_opening(local(2023, 5, 4, 18)), utc(2023, 5, 8, 6), CEST)
    # 2024: Easter Sunday 31 March, fourth Friday after it is 26 April: an ordinary working day now.
    assert calendar.is_open(local(2024, 4, 26, 10))
    assert calendar.closures_on(dt.date(2024, 4, 26)) == []
    assert_instant(calendar.next_opening(local(2024, 4, 25, 18)), utc(2024, 4, 26, 6), CEST)


def test_constitution_day_2026_open_in_morning_closed_from_noon() -> None:
    calendar = kommune()
    assert calendar.is_open(local(2026, 6, 5, 12) - TICK)
    assert not calendar.is_open(local(2026, 6, 5, 12))
    assert not calendar.is_open(local(2026, 6, 5, 14))
    assert_instant(calendar.next_closing(local(2026, 6, 5, 9)), utc(2026, 6, 5, 10), CEST)
    assert_instant(calendar.next_opening(local(2026, 6, 5, 12, 30)), utc(2026, 6, 8, 6), CEST)
    assert calendar.closures_on(dt.date(2026, 6, 5)) == [
        Closure(dt.date(2026, 6, 5), "Grundlovsdag (eftermiddag)", start=dt.time(12, 0))
    ]
    assert calendar.periods_on(dt.date(2026, 6, 5)) == (Period(dt.time(8), dt.time(12)),)


def test_public_holidays_false_disables_holidays_and_customary_closures() -> None:
    calendar = kommune(public_holidays=False)
    assert calendar.is_open(local(2026, 4, 2, 10, 30))  # Maundy Thursday
    assert calendar.is_open(local(2026, 4, 6, 10))  # Easter Monday
    assert calendar.is_open(local(2026, 12, 24, 10))  # Christmas Eve
    assert calendar.is_open(local(2026, 12, 31, 10))  # New Year's Eve
    assert calendar.is_open(local(2023, 5, 5, 10))  # Great Prayer Day
    assert calendar.is_open(local(2026, 6, 5, 13))  # Constitution Day afternoon
    assert calendar.closures_on(dt.date(2026, 12, 25)) == []
    # Thursday 24 December opens at 10:00 like any Thursday.
    assert_instant(calendar.next_opening(local(2026, 12, 23, 18)), utc(2026, 12, 24, 9), CET)


def test_holiday_names_are_danish_whatever_the_process_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGE", "en_US")
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    _country_holidays.cache_clear()
    try:
        reasons = {c.date: c.reason for c in public_closures("DK", 2026)}
    finally:
        _country_holidays.cache_clear()
    assert reasons[dt.date(2026, 4, 3)] == "Langfredag"
    assert reasons[dt.date(2026, 12, 25)] == "Juledag"
    assert reasons[dt.date(2026, 12, 24)] == "Juleaftensdag"
    assert reasons[dt.date(2026, 12, 31)] == "Nytårsaftensdag"
    assert reasons[dt.date(2026, 6, 5)] == "Grundlovsdag (eftermiddag)"


def test_public_closures_dk_2026_are_exactly_holidays_and_customary_days() -> None:
    closures = public_closures("DK", 2026)
    assert sorted((c.date, c.reason, c.start, c.end) for c in closures) == [
        (dt.date(2026, 1, 1), "Nytårsdag", None, None),
        (dt.date(2026, 4, 2), "Skærtorsdag", None, None),
        (dt.date(2026, 4, 3), "Langfredag", None, None),
        (dt.date(2026, 4, 5), "Påskedag", None, None),
        (dt.date(2026, 4, 6), "Anden påskedag", None, None),
        (dt.date(2026, 5, 14), "Kristi himmelfartsdag", None, None),
        (dt.date(2026, 5, 24), "Pinsedag", None, None),
        (dt.date(2026, 5, 25), "Anden pinsedag", None, None),
        (dt.date(2026, 6, 5), "Grundlovsdag (eftermiddag)", dt.time(12), None),
        (dt.date(2026, 12, 24), "Juleaftensdag", None, None),
        (dt.date(2026, 12, 25), "Juledag", None, None),
        (dt.date(2026, 12, 26), "Anden juledag", None, None),
        (dt.date(2026, 12, 31), "Nytårsaftensdag", None, None),
    ]


def test_swedish_holidays_are_named_in_swedish() -> None:
    reasons = {c.date: c.reason for c in public_closures("SE", 2026)}
    assert reasons[dt.date(2026, 4, 3)] == "Långfredagen"
    assert reasons[dt.date(2026, 12, 24)] == "Julafton"


# -- explicit closures -----------------------------------------------------------------------------------

WEDNESDAY = dt.date(2026, 3, 11)


def test_whole_day_closure_closes_the_day() -> None:
    calendar = kommune(closures=[Closure(WEDNESDAY, "Personaledag")])
    assert not calendar.is_open(local(2026, 3, 11, 10))
    assert calendar.periods_on(WEDNESDAY) == ()
    # Thursday opens at 10:00.
    assert_instant(calendar.next_opening(local(2026, 3, 10, 18)), utc(2026, 3, 12, 9), CET)
    assert calendar.is_open(local(2026, 3, 10, 10))  # the day before is unaffected


def test_partial_closure_from_noon_closes_the_afternoon() -> None:
    calendar = kommune(closures=[Closure(WEDNESDAY, "Temadag", start=dt.time(12))])
    assert calendar.is_open(local(2026, 3, 11, 11, 59))
    assert not calendar.is_open(local(2026, 3, 11, 12))
    assert_instant(calendar.next_closing(local(2026, 3, 11, 10)), utc(2026, 3, 11, 11), CET)
    assert_instant(calendar.next_opening(local(2026, 3, 11, 13)), utc(2026, 3, 12, 9), CET)


def test_partial_closure_until_ten_opens_late() -> None:
    calendar = kommune(closures=[Closure(WEDNESDAY, "Morgenmøde", end=dt.time(10))])
    assert not calendar.is_open(local(2026, 3, 11, 9))
    assert calendar.is_open(local(2026, 3, 11, 10))
    assert_instant(calendar.next_opening(local(2026, 3, 10, 18)), utc(2026, 3, 11, 9), CET)


def test_closure_in_the_middle_of_a_period_splits_it() -> None:
    calendar = kommune(closures=[Closure(WEDNESDAY, "Brandøvelse", start=dt.time(10), end=dt.time(11))])
    assert calendar.periods_on(WEDNESDAY) == (
        Period(dt.time(8), dt.time(10)),
        Period(dt.time(11), dt.time(15)),
    )
    assert calendar.is_open(local(2026, 3, 11, 9, 59))
    assert not calendar.is_open(local(2026, 3, 11, 10))
    assert not calendar.is_open(local(2026, 3, 11, 10, 59))
    assert calendar.is_open(local(2026, 3, 11, 11))
    assert_instant(calendar.next_closing(local(2026, 3, 11, 9)), utc(2026, 3, 11, 9), CET)
    assert_instant(calendar.next_opening(local(2026, 3, 11, 10, 30)), utc(2026, 3, 11, 10), CET)
    # From the morning part, the next opening is the afternoon part.
    assert_instant(calendar.next_opening(local(2026, 3, 11, 9)), utc(2026, 3, 11, 10), CET)


def test_several_closures_on_one_day_all_apply() -> None:
    calendar = kommune(
        closures=[
            Closure(WEDNESDAY, "Møde", start=dt.time(9), end=dt.time(10)),
            Closure(WEDNESDAY, "Frokostmøde", start=dt.time(12), end=dt.time(13)),
            Closure(WEDNESDAY, "Tidlig lukning", start=dt.time(14)),
        ]
    )
    assert calendar.periods_on(WEDNESDAY) == (
        Period(dt.time(8), dt.time(9)),
        Period(dt.time(10), dt.time(12)),
        Period(dt.time(13), dt.time(14)),
    )
    assert_instant(calendar.next_closing(local(2026, 3, 11, 8, 30)), utc(2026, 3, 11, 8), CET)
    assert_instant(calendar.next_opening(local(2026, 3, 11, 9, 30)), utc(2026, 3, 11, 9), CET)
    assert_instant(calendar.next_closing(local(2026, 3, 11, 13, 30)), utc(2026, 3, 11, 13), CET)
    assert not calendar.is_open(local(2026, 3, 11, 14, 30))
    assert [c.reason for c in calendar.closures_on(WEDNESDAY)] == ["Møde", "Frokostmøde", "Tidlig lukning"]


def test_explicit_closure_and_holiday_on_same_day_both_listed() -> None:
    calendar = kommune(closures=[Closure(dt.date(2026, 4, 2), "Ekstra")])
    assert [c.reason for c in calendar.closures_on(dt.date(2026, 4, 2))] == ["Ekstra", "Skærtorsdag"]


# -- several periods a day, period edges ------------------------------------------------------------------

THURSDAY = dt.date(2026, 3, 12)


def test_lunch_gap_is_closed() -> None:
    calendar = kommune()
    assert calendar.is_open(local(2026, 3, 12, 12) - TICK)
    assert not calendar.is_open(local(2026, 3, 12, 12))
    assert not calendar.is_open(local(2026, 3, 12, 12, 30))
    assert calendar.is_open(local(2026, 3, 12, 13))


def test_next_opening_from_lunch_gap_is_13_same_day() -> None:
    calendar = kommune()
    assert_instant(calendar.next_opening(local(2026, 3, 12, 12, 30)), utc(2026, 3, 12, 12), CET)


def test_next_closing_from_morning_period_is_noon() -> None:
    calendar = kommune()
    assert_instant(calendar.next_closing(local(2026, 3, 12, 10, 30)), utc(2026, 3, 12, 11), CET)
    assert_instant(calendar.next_closing(local(2026, 3, 12, 13)), utc(2026, 3, 12, 16, 30), CET)


def test_open_at_start_instant_and_closed_at_end_instant() -> None:
    calendar = kommune()
    assert not calendar.is_open(local(2026, 3, 9, 8) - TICK)
    assert calendar.is_open(local(2026, 3, 9, 8))
    assert calendar.is_open(local(2026, 3, 9, 15) - TICK)
    assert not calendar.is_open(local(2026, 3, 9, 15))
    assert calendar.next_closing(local(2026, 3, 9, 15)) is None
    assert_instant(calendar.next_closing(local(2026, 3, 9, 8)), utc(2026, 3, 9, 14), CET)


def test_next_opening_exactly_at_opening_instant_is_the_following_opening() -> None:
    calendar = kommune()
    assert_instant(calendar.next_opening(local(2026, 3, 9, 8) - TICK), utc(2026, 3, 9, 7), CET)
    assert_instant(calendar.next_opening(local(2026, 3, 9, 8)), utc(2026, 3, 10, 7), CET)


def test_period_to_24_00_is_open_until_the_last_microsecond() -> None:
    calendar = OpeningCalendar.from_texts({"friday": ["20:00-24:00"]}, public_holidays=False)
    last_microsecond = local(2026, 3, 7, 0) - TICK
    assert last_microsecond.time() == dt.time(23, 59, 59, 999_999)
    assert calendar.is_open(last_microsecond)
    assert not calendar.is_open(local(2026, 3, 7, 0))
    assert_instant(calendar.next_closing(local(2026, 3, 6, 21)), utc(2026, 3, 6, 23), CET)


def test_period_to_24_00_followed_by_00_00_is_no_opening_at_midnight() -> None:
    calendar = OpeningCalendar.from_texts(
        {"friday": ["20:00-24:00"], "saturday": ["00:00-02:00"]}, public_holidays=False
    )
    assert calendar.is_open(local(2026, 3, 7, 0))
    # From Friday evening (open) the next opening is next Friday 20:00, not Saturday 00:00.
    assert_instant(calendar.next_opening(local(2026, 3, 6, 21)), utc(2026, 3, 13, 19), CET)
    # From before it opens, it opens at 20:00.
    assert_instant(calendar.next_opening(local(2026, 3, 6, 12)), utc(2026, 3, 6, 19), CET)


def test_next_closing_runs_through_midnight_into_next_days_period() -> None:
    calendar = OpeningCalendar.from_texts(
        {"friday": ["20:00-24:00"], "saturday": ["00:00-02:00"]}, public_holidays=False
    )
    assert_instant(calendar.next_closing(local(2026, 3, 6, 21)), utc(2026, 3, 7, 1), CET)
    assert_instant(calendar.next_closing(local(2026, 3, 7, 0)), utc(2026, 3, 7, 1), CET)
    assert_instant(calendar.next_opening(local(2026, 3, 7, 3)), utc(2026, 3, 13, 19), CET)


def test_next_closing_runs_through_several_whole_days() -> None:
    calendar = OpeningCalendar.from_texts(
        {"friday": ["20:00-24:00"], "saturday": ["00:00-24:00"], "sunday": ["00:00-18:00"]},
        public_holidays=False,
    )
    assert_instant(calendar.next_closing(local(2026, 3, 6, 21)), utc(2026, 3, 8, 17), CET)


def test_next_opening_when_open_is_start_of_next_period_never_the_instant() -> None:
    calendar = kommune()
    instant = local(2026, 3, 12, 10, 30)  # Thursday morning period
    assert calendar.is_open(instant)
    assert_instant(calendar.next_opening(instant), utc(2026, 3, 12, 12), CET)


def test_open_at_or_next_returns_the_instant_when_open() -> None:
    calendar = kommune()
    instant = local(2026, 3, 12, 10, 30)
    assert calendar.open_at_or_next(instant) is instant


def test_open_at_or_next_returns_next_opening_when_closed() -> None:
    calendar = kommune()
    assert_instant(calendar.open_at_or_next(local(2026, 3, 6, 18)), utc(2026, 3, 9, 7), CET)


def test_calendar_that_never_opens_has_no_next_opening() -> None:
    calendar = OpeningCalendar.from_texts({})
    instant = local(2026, 3, 9, 10)
    assert not calendar.is_open(instant)
    assert calendar.next_opening(instant) is None
    assert calendar.next_closing(instant) is None
    assert calendar.open_at_or_next(instant) is None


def test_calendar_open_all_the_time_has_no_next_opening_or_closing() -> None:
    calendar = OpeningCalendar.from_texts({day: ["00:00-24:00"] for day in WEEKDAYS}, public_holidays=False)
    instant = local(2026, 3, 29, 2, 30)  # even across the spring gap
    assert calendar.is_open(instant)
    assert calendar.next_opening(instant) is None
    assert calendar.next_closing(instant) is None


def test_instant_in_another_zone_is_converted() -> None:
    calendar = kommune()
    new_york = dt.datetime(2026, 3, 9, 3, 0, tzinfo=ZoneInfo("America/New_York"))  # 08:00 CET
    assert calendar.is_open(new_york)
    assert_instant(calendar.next_closing(new_york), utc(2026, 3, 9, 14), CET)


@pytest.mark.parametrize("method", ["is_open", "next_opening", "next_closing", "open_at_or_next", "local"])
def test_naive_datetime_raises_value_error(method: str) -> None:
    calendar = kommune()
    with pytest.raises(ValueError, match="timezone-aware"):
        getattr(calendar, method)(dt.datetime(2026, 3, 9, 10))  # noqa: DTZ001


# -- departments ------------------------------------------------------------------------------------------


def test_department_hours_keep_the_kommunes_closures() -> None:
    calendar = kommune(closures=[Closure(WEDNESDAY, "Personaledag")])
    department = calendar.with_weekly({"wednesday": ["12:00-14:00"], "thursday": ["09:00-11:00"]})
    assert department.closures == calendar.closures
    assert department.public_holidays is True
    assert department.timezone is calendar.timezone
    assert department.country == "DK"
    assert not department.is_open(local(2026, 3, 11, 12, 30))  # the kommune's closure
    assert not department.is_open(local(2026, 4, 2, 9, 30))  # Maundy Thursday
    assert department.is_open(local(2026, 3, 12, 9, 30))
    assert not department.is_open(local(2026, 3, 9, 10))  # the kommune is open, the department is not
    assert_instant(department.next_opening(local(2026, 3, 10, 18)), utc(2026, 3, 12, 8), CET)
    assert department.week_texts()["wednesday"] == ["12:00-14:00"]
    assert department.week_texts()["monday"] == []


def test_department_of_kommune_without_public_holidays_keeps_that_setting() -> None:
    calendar = kommune(public_holidays=False)
    department = calendar.with_weekly({"thursday": ["09:00-11:00"]})
    assert department.public_holidays is False
    assert department.is_open(local(2026, 4, 2, 9, 30))


# -- parsing ----------------------------------------------------------------------------------------------


def test_parse_periods_sorts_and_round_trips() -> None:
    periods = parse_periods(["13:00-17:30", " 10:00 - 12:00 "])
    assert periods == (Period(dt.time(10), dt.time(12)), Period(dt.time(13), dt.time(17, 30)))
    assert [str(p) for p in periods] == ["10:00-12:00", "13:00-17:30"]
    assert str(Period.parse("20:00-24:00")) == "20:00-24:00"
    assert Period.parse("00:00-24:00") == Period(dt.time.min, dt.time.max)


def test_parse_periods_rejects_overlapping_periods() -> None:
    with pytest.raises(ValueError, match=r"periods 08:00-12:00 and 11:00-13:00 overlap"):
        parse_periods(["11:00-13:00", "08:00-12:00"])


def test_parse_periods_rejects_the_same_period_twice() -> None:
    with pytest.raises(ValueError, match="overlap"):
        parse_periods(["08:00-12:00", "08:00-12:00"])


def test_parse_periods_rejects_touching_periods() -> None:
    with pytest.raises(ValueError, match=r"periods 08:00-12:00 and 12:00-15:00 touch"):
        parse_periods(["08:00-12:00", "12:00-15:00"])


@pytest.mark.parametrize("text", ["15:00-08:00", "08:00-08:00"])
def test_period_parse_rejects_end_before_start(text: str) -> None:
    with pytest.raises(ValueError, match=f"'{text}' ends before it starts"):
        Period.parse(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8-15", "'8' is not a time like '08:00'"),
        ("25:00-26:00", "'25:00' is not a time like '08:00'"),
        ("08:60-09:00", "'08:60' is not a time like '08:00'"),
        ("24:00-24:00", "'24:00' is not a time like '08:00'"),
        ("08:00-24:01", "'24:01' is not a time like '08:00'"),
        ("+8:00-15:00", r"'\+8:00' is not a time like '08:00'"),
        ("08:00-1٥:00", "'1٥:00' is not a time like '08:00'"),
        ("08.00-15.00", "'08.00' is not a time like '08:00'"),
        ("08:00", "'08:00' is not a period like '08:00-15:00'"),
        ("08:00-12:00-15:00", "'08:00-12:00-15:00' is not a period like '08:00-15:00'"),
        ("", "'' is not a period like '08:00-15:00'"),
    ],
)
def test_period_parse_rejects_malformed_text(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Period.parse(text)


def test_from_texts_rejects_unknown_weekday() -> None:
    with pytest.raises(ValueError, match="unknown weekday"):
        OpeningCalendar.from_texts({"mandag": ["08:00-15:00"]})


def test_week_texts_lists_every_weekday() -> None:
    assert kommune().week_texts() == {
        "monday": ["08:00-15:00"],
        "tuesday": ["08:00-15:00"],
        "wednesday": ["08:00-15:00"],
        "thursday": ["10:00-12:00", "13:00-17:30"],
        "friday": ["08:00-15:00"],
        "saturday": [],
        "sunday": [],
    }


# -- upcoming closures ------------------------------------------------------------------------------------


def test_upcoming_closures_lists_only_closures_that_take_away_hours() -> None:
    calendar = kommune(closures=[Closure(dt.date(2026, 4, 4), "Lørdag, lukket alligevel")])
    found = calendar.upcoming_closures(dt.date(2026, 3, 30), 10)
    # Easter Sunday (5 April) and the Saturday closure fall on days without hours.
    assert [(c.date, c.reason) for c in found] == [
        (dt.date(2026, 4, 2), "Skærtorsdag"),
        (dt.date(2026, 4, 3), "Langfredag"),
        (dt.date(2026, 4, 6), "Anden påskedag"),
    ]


def test_upcoming_closures_skips_afternoon_closure_of_a_morning_only_day() -> None:
    morning_only = OpeningCalendar.from_texts({"friday": ["08:00-12:00"]})
    assert morning_only.upcoming_closures(dt.date(2026, 6, 1), 7) == []
    all_day = OpeningCalendar.from_texts({"friday": ["08:00-15:00"]})
    assert [c.reason for c in all_day.upcoming_closures(dt.date(2026, 6, 1), 7)] == ["Grundlovsdag (eftermiddag)"]


# -- properties over random schedules and instants --------------------------------------------------------

# Period boundaries on a five-minute grid, with the DST-relevant hours over-represented. Copenhagen's
# offsets are whole hours, so every opening and closing then falls on a five-minute grid in UTC too.
_BOUNDARY = st.one_of(
    st.sampled_from([0, 60, 120, 150, 180, 240, 720, 1440]),
    st.integers(0, 288).map(lambda k: 5 * k),
)


def _text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


_DAY_TEXTS = st.lists(_BOUNDARY, unique=True, max_size=6).map(
    lambda bounds: [f"{_text(a)}-{_text(b)}" for a, b in zip(*[iter(sorted(bounds))] * 2, strict=False)]
)
_WEEKLY = st.fixed_dictionaries(dict.fromkeys(WEEKDAYS, _DAY_TEXTS))

_DST_CHANGES = [
    dt.datetime(year, month, day, 1, tzinfo=UTC)
    for year, month, day in [
        (2024, 3, 31),
        (2024, 10, 27),
        (2025, 3, 30),
        (2025, 10, 26),
        (2026, 3, 29),
        (2026, 10, 25),
        (2027, 3, 28),
        (2027, 10, 31),
        (2028, 3, 26),
        (2028, 10, 29),
    ]
]


def test_the_dst_changes_used_by_the_properties_are_real_changes() -> None:
    for change in _DST_CHANGES:
        before, after = (change - TICK).astimezone(CPH), change.astimezone(CPH)
        assert before.utcoffset() != after.utcoffset()
        assert after.weekday() == 6  # Sunday
        assert (after + dt.timedelta(days=7)).month != after.month  # the last Sunday of the month


_START, _END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2029, 1, 1, tzinfo=UTC)
_INSTANT = st.one_of(
    st.integers(0, int((_END - _START).total_seconds() * 1_000_000)).map(
        lambda us: _START + dt.timedelta(microseconds=us)
    ),
    st.builds(
        lambda change, seconds: change + dt.timedelta(seconds=seconds),
        st.sampled_from(_DST_CHANGES),
        st.integers(-2 * 86_400, 2 * 86_400),
    ),
    st.builds(
        lambda change, steps: change + dt.timedelta(minutes=5 * steps),
        st.sampled_from(_DST_CHANGES),
        st.integers(-2 * 288, 2 * 288),
    ),
)
_GRID = dt.timedelta(minutes=5)
_SCAN = dt.timedelta(days=3)


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[OpeningCalendar, dt.datetime]:
    instant = draw(_INSTANT)
    day = instant.astimezone(CPH).date()
    closures = []
    for _ in range(draw(st.integers(0, 2))):
        date = day + dt.timedelta(days=draw(st.integers(-1, 3)))
        bounds = sorted(draw(st.lists(st.integers(0, 288).map(lambda k: 5 * k), unique=True, min_size=2, max_size=2)))
        start = draw(st.sampled_from([None, _time(bounds[0])]))
        end = draw(st.sampled_from([None, _time(bounds[1])]))
        closures.append(Closure(date, "Tilfældig", start=start, end=end))
    calendar = OpeningCalendar.from_texts(draw(_WEEKLY), closures=closures, public_holidays=draw(st.booleans()))
    shown_in = draw(st.sampled_from([UTC, CPH, ZoneInfo("America/New_York")]))
    return calendar, instant.astimezone(shown_in)


def _time(minutes: int) -> dt.time:
    return dt.time.max if minutes == 1440 else dt.time(minutes // 60, minutes % 60)


def _grid_after(instant: dt.datetime) -> dt.datetime:
    """The first five-minute UTC grid point strictly after ``instant``."""
    moment = instant.astimezone(UTC)
    floor = moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)
    return floor + _GRID


def _first_change(calendar: OpeningCalendar, instant: dt.datetime, *, now_open: bool) -> dt.datetime | None:
    """Brute force: the first grid point after ``instant`` where ``is_open`` differs from ``now_open``."""
    probe = _grid_after(instant)
    limit = instant.astimezone(UTC) + _SCAN
    while probe <= limit:
        if calendar.is_open(probe) != now_open:
            return probe
        probe += _GRID
    return None


def _period_edges_between(calendar: OpeningCalendar, after: dt.datetime, before: dt.datetime) -> list[dt.datetime]:
    """Instants at the starts and the last microseconds of all periods, both folds, strictly in between."""
    edges = []
    day = after.astimezone(CPH).date() - dt.timedelta(days=1)
    while day <= min(before, after + _SCAN).astimezone(CPH).date():
        for period in calendar.periods_on(day):
            for moment in (
                dt.datetime.combine(day, period.start),
                dt.datetime.combine(day, period.end) - TICK,
            ):
                for fold in (0, 1):
                    edge = moment.replace(tzinfo=CPH, fold=fold).astimezone(UTC)
                    if after.astimezone(UTC) < edge < before.astimezone(UTC):
                        edges.append(edge)
        day += dt.timedelta(days=1)
    return edges


@settings(max_examples=200, deadline=None)
@given(_scenarios())
def test_property_next_opening_is_the_first_open_instant_after_a_closed_instant(
    scenario: tuple[OpeningCalendar, dt.datetime],
) -> None:
    # Arithmetic in UTC: on an aware datetime in Europe/Copenhagen it would be wall-clock arithmetic.
    calendar, instant = scenario
    if calendar.is_open(instant):
        return  # covered by the closing property
    opening = calendar.next_opening(instant)
    assert calendar.open_at_or_next(instant) == opening
    expected = _first_change(calendar, instant, now_open=False)
    now = instant.astimezone(UTC)
    if opening is None or opening.astimezone(UTC) > now + _SCAN:
        assert expected is None
    else:
        assert opening.tzinfo is CPH
        opening = opening.astimezone(UTC)
        assert opening > now
        assert calendar.is_open(opening)
        assert not calendar.is_open(opening - TICK)
        assert opening == expected
    until = opening if opening is not None else now + _SCAN
    for edge in _period_edges_between(calendar, now, until):
        assert not calendar.is_open(edge)


@settings(max_examples=200, deadline=None)
@given(_scenarios())
def test_property_next_closing_is_the_first_closed_instant_after_an_open_instant(
    scenario: tuple[OpeningCalendar, dt.datetime],
) -> None:
    calendar, instant = scenario
    if not calendar.is_open(instant):
        assert calendar.next_closing(instant) is None
        return
    assert calendar.open_at_or_next(instant) is instant
    closing = calendar.next_closing(instant)
    expected = _first_change(calendar, instant, now_open=True)
    now = instant.astimezone(UTC)
    if closing is None or closing.astimezone(UTC) > now + _SCAN:
        assert expected is None
    else:
        assert closing.tzinfo is CPH
        closing = closing.astimezone(UTC)
        assert closing > now
        assert not calendar.is_open(closing)
        assert calendar.is_open(closing - TICK)
        assert closing.astimezone(UTC) == expected
        # Open now, so the next opening is the first one after this closing.
        opening = calendar.next_opening(instant)
        after_closing = calendar.next_opening(closing)
        assert (opening is None) == (after_closing is None)
        if opening is not None and after_closing is not None:
            assert opening.astimezone(UTC) == after_closing.astimezone(UTC)
    until = closing if closing is not None else now + _SCAN
    for edge in _period_edges_between(calendar, now, until):
        assert calendar.is_open(edge)


@settings(max_examples=200, deadline=None)
@given(_scenarios())
def test_property_next_opening_when_open_is_a_real_opening_after_the_instant(
    scenario: tuple[OpeningCalendar, dt.datetime],
) -> None:
    calendar, instant = scenario
    opening = calendar.next_opening(instant)
    if opening is None:
        return
    opening = opening.astimezone(UTC)
    assert opening > instant.astimezone(UTC)
    assert calendar.is_open(opening)
    assert not calendar.is_open(opening - TICK)
