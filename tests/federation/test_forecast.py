"""The staffing forecast: Erlang C against textbook values and an independent formula, its monotonic properties,
and the forecast of a day from a small fixed history (weights, holidays left out, DST days)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.calls.tables import Call
from hotline.federation import forecast
from hotline.federation.forecast import agents_for, erlang_c, service_level
from tests.fixtures.databases import Database

CPH = ZoneInfo("Europe/Copenhagen")


def textbook_erlang_c(agents: int, load: float) -> float:
    """Erlang C straight from its definition with factorials (independent of the recursion in the code)."""
    top = load**agents / math.factorial(agents) * agents / (agents - load)
    bottom = sum(load**k / math.factorial(k) for k in range(agents)) + top
    return top / bottom


def textbook_service_level(agents: int, calls_per_hour: float, aht: float, threshold: float) -> float:
    load = calls_per_hour * aht / 3600
    return 1 - textbook_erlang_c(agents, load) * math.exp(-(agents - load) * threshold / aht)


def test_erlang_c_matches_the_textbook_worked_example() -> None:
    # The classic worked example (Call Centre Helper's Erlang C walk-through): 100 calls per half hour, AHT 180 s,
    # i.e. 10 Erlangs, target 80 % within 20 s. With 14 agents the probability of waiting is 17.4 % and the
    # service level about 88.9 %; 13 agents give about 79.6 %, below target, so 14 agents are needed.
    assert round(erlang_c(14, 10.0), 3) == 0.174
    # (the walk-through rounds its intermediate figures, hence the tolerance of a tenth of a percentage point)
    assert abs(service_level(14, 200, 180, 20) - 0.889) < 0.001
    assert abs(service_level(13, 200, 180, 20) - 0.796) < 0.001
    assert agents_for(200, 180, target=0.8, threshold_seconds=20) == 14


def test_erlang_c_for_100_calls_an_hour_agrees_with_the_factorial_formula() -> None:
    # 100 calls/h × 180 s = 5 Erlangs; 30 s threshold. The factorial formula gives 76.8 % with 7 agents and
    # 89.9 % with 8, so 8 agents are needed for 80 %.
    for agents in range(6, 12):
        assert math.isclose(erlang_c(agents, 5.0), textbook_erlang_c(agents, 5.0), rel_tol=1e-12)
        assert math.isclose(
            service_level(agents, 100, 180, 30), textbook_service_level(agents, 100, 180, 30), rel_tol=1e-12
        )
    assert textbook_service_level(7, 100, 180, 30) < 0.8 <= textbook_service_level(8, 100, 180, 30)
    assert agents_for(100, 180, target=0.8, threshold_seconds=30) == 8


def test_overload_zero_traffic_shrinkage_and_occupancy() -> None:
    assert erlang_c(5, 5.0) == 1.0
    assert service_level(5, 100, 180, 30) == 0.0
    assert agents_for(0, 180) == 0
    assert forecast.rostered(8, 0.3) == 12  # 8 / 0.7 = 11.43 → 12
    assert forecast.rostered(7, 0.3) == 10  # 7 / 0.7 = 10 exactly, not 11
    # 20 Erlangs at most 85 % occupied: at least 20 / 0.85 = 23.5 → 24 agents, whatever the service level says.
    assert agents_for(400, 180, target=0.5, threshold_seconds=30, max_occupancy=0.85) >= 24


@settings(max_examples=150, deadline=None)
@given(
    calls=st.floats(min_value=1, max_value=600),
    aht=st.floats(min_value=30, max_value=900),
    threshold=st.integers(min_value=5, max_value=120),
)
def test_service_level_rises_with_every_agent(calls: float, aht: float, threshold: int) -> None:
    load = calls * aht / 3600
    first = math.floor(load) + 1
    levels = [service_level(n, calls, aht, threshold) for n in range(first, first + 8)]
    assert all(0 <= level <= 1 for level in levels)
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(levels))


@settings(max_examples=150, deadline=None)
@given(
    calls=st.floats(min_value=0.5, max_value=500),
    more=st.floats(min_value=0, max_value=200),
    aht=st.floats(min_value=30, max_value=900),
    target=st.floats(min_value=0.5, max_value=0.95),
)
def test_more_calls_or_a_stricter_target_never_need_fewer_agents(
    calls: float, more: float, aht: float, target: float
) -> None:
    needed = agents_for(calls, aht, target=target, threshold_seconds=30)
    assert agents_for(calls + more, aht, target=target, threshold_seconds=30) >= needed
    assert agents_for(calls, aht, target=min(target + 0.04, 0.99), threshold_seconds=30) >= needed
    assert agents_for(calls, aht, target=target, threshold_seconds=10) >= needed
    # and the answer is the smallest that meets the target
    assert service_level(needed, calls, aht, 30) >= target
    assert needed == 1 or service_level(needed - 1, calls, aht, 30) < target


def test_dst_days_have_23_and_25_hours() -> None:
    assert len(forecast.hours_of(dt.date(2026, 3, 29))) == 23
    assert len(forecast.hours_of(dt.date(2026, 10, 25))) == 25
    assert len(forecast.hours_of(dt.date(2026, 11, 25))) == 24


def test_holidays_are_left_out_and_a_holiday_is_compared_with_sundays() -> None:
    thursdays = forecast.comparable_days(dt.date(2027, 1, 7))
    # 31 Dec (New Year's Eve) and 24 Dec (Christmas Eve) 2026 are Thursdays: left out, the others keep their weight.
    assert thursdays == [
        (dt.date(2026, 12, 17), 6),
        (dt.date(2026, 12, 10), 5),
        (dt.date(2026, 12, 3), 4),
        (dt.date(2026, 11, 26), 3),
        (dt.date(2026, 11, 19), 2),
        (dt.date(2026, 11, 12), 1),
    ]
    christmas = forecast.comparable_days(dt.date(2026, 12, 25))
    assert christmas[0] == (dt.date(2026, 12, 20), 8)
    assert all(day.weekday() == 6 for day, _ in christmas)


def _call(n: int, offered: dt.datetime, handle: int, *, wrap: int = 0) -> Call:
    answered = offered + dt.timedelta(seconds=20)
    ended = answered + dt.timedelta(seconds=handle - wrap)
    return Call(
        call_id=f"f-{n}",
        kommune_code="0751",
        status="done",
        offered_at=offered,
        answered_at=answered,
        ended_at=ended,
        wrapped_up_at=ended + dt.timedelta(seconds=wrap) if wrap else None,
    )


async def test_forecast_day_weights_recent_weeks_and_skips_holidays(db: Database) -> None:
    calls: list[Call] = []

    def at_17(day: dt.date, count: int, handle: int) -> None:
        for i in range(count):
            offered = dt.datetime.combine(day, dt.time(17, 5 + i), tzinfo=CPH)
            calls.append(_call(len(calls), offered, handle, wrap=60 if i % 2 else 0))

    at_17(dt.date(2026, 11, 12), 1, 300)  # the first call on record: weight 1
    at_17(dt.date(2026, 12, 10), 3, 300)  # weight 5
    at_17(dt.date(2026, 12, 17), 6, 300)  # weight 6
    at_17(dt.date(2026, 12, 24), 50, 900)  # Christmas Eve: left out
    at_17(dt.date(2026, 12, 16), 40, 900)  # a Wednesday: not comparable with a Thursday
    await Call.insert(*calls).run()

    hours = await forecast.forecast_day(dt.date(2027, 1, 7), target=0.8, threshold_seconds=30)
    assert len(hours) == 24
    five_pm = next(h for h in hours if h.start.hour == 17)
    assert five_pm.start == dt.datetime(2027, 1, 7, 17, tzinfo=CPH)
    # (6×6 + 5×3 + 4×0 + 3×0 + 2×0 + 1×1) / (6+5+4+3+2+1) = 52 / 21 calls in the 17–18 hour
    assert math.isclose(five_pm.calls, 52 / 21)
    assert math.isclose(five_pm.aht_seconds, 300)  # every comparable call took 300 s (with or without wrap-up)
    # 52/21 calls/h × 300 s = 0.206 Erlangs: one agent answers 80 % within 30 s (textbook formula).
    assert textbook_service_level(1, 52 / 21, 300, 30) >= 0.8
    assert five_pm.agents_needed == 1
    assert all(h.calls == 0 and h.agents_needed == 0 for h in hours if h.start.hour != 17)
    # With shrinkage 50 %, that one agent on the phones means two on the rota.
    shrunk = await forecast.forecast_day(dt.date(2027, 1, 7), shrinkage=0.5)
    assert next(h for h in shrunk if h.start.hour == 17).agents_needed == 2


async def test_a_young_history_is_not_read_as_quiet_evenings(db: Database) -> None:
    # Only last week has calls: the seven older Thursdays predate the first call and are left out.
    offered = dt.datetime(2026, 12, 17, 18, 0, tzinfo=CPH)
    await Call.insert(*[_call(i, offered + dt.timedelta(minutes=i), 240) for i in range(4)]).run()
    hours = await forecast.forecast_day(dt.date(2026, 12, 24))  # Thursday 24 Dec is a closing day …
    assert all(h.calls == 0 for h in hours)  # … and is compared with Sundays, which had no calls
    thursday = await forecast.forecast_day(dt.date(2027, 1, 7))
    # Comparable: 17 Dec (weight 6) only, since 31 Dec and 24 Dec are closing days and the rest predate the history.
    assert math.isclose(next(h for h in thursday if h.start.hour == 18).calls, 4.0)
