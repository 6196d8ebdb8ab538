"""The staffing forecast: calls expected per hour of a day, and the agents needed to answer them within the
service-level target (Erlang C).

History: the same weekday in the last ``weeks`` weeks before the day (wall-clock hours in Europe/Copenhagen),
weighted linearly toward recent weeks (the last week counts ``weeks`` times, the oldest once). Public holidays and
the customary closing days (Christmas Eve, New Year's Eve) are treated apart: such a day in the history is left out
(its pattern is not the weekday's), and a holiday is itself forecast from the Sundays before it. Days before the
first recorded call are left out too, so a young history is not read as quiet evenings.

Average handle time (answered → wrapped up, or → ended) is the weighted mean over the same days; without answered
calls it is ``default_aht_seconds``.

Agents: the smallest N whose Erlang C service level (share answered within ``threshold_seconds``) reaches
``target`` and whose occupancy (traffic / N) is at most ``max_occupancy``; then divided by (1 − ``shrinkage``)
(breaks, training, sickness) and rounded up. With ``shrinkage=0`` and ``max_occupancy=1`` it is plain Erlang C.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from functools import cache
from zoneinfo import ZoneInfo

import holidays

from hotline.federation import repository
from hotline.federation.schemas import HourForecast

CPH = ZoneInfo("Europe/Copenhagen")
MAX_AGENTS = 10_000


# -- Erlang C ------------------------------------------------------------------------------------------------


def traffic(calls_per_hour: float, aht_seconds: float) -> float:
    """Offered load in Erlangs."""
    return calls_per_hour * aht_seconds / 3600.0


def erlang_c(agents: int, load: float) -> float:
    """Probability that a call has to wait, with ``agents`` agents and ``load`` Erlangs (1 when overloaded).
    Computed through the Erlang B recursion, which stays stable where factorials would overflow."""
    if load <= 0:
        return 0.0
    if agents <= load:
        return 1.0
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = load * blocking / (k + load * blocking)
    return agents * blocking / (agents - load * (1 - blocking))


def service_level(agents: int, calls_per_hour: float, aht_seconds: float, threshold_seconds: float) -> float:
    """Share of calls answered within ``threshold_seconds``."""
    load = traffic(calls_per_hour, aht_seconds)
    if load <= 0:
        return 1.0
    if agents <= load:
        return 0.0
    waiting = erlang_c(agents, load)
    return 1.0 - waiting * math.exp(-(agents - load) * threshold_seconds / aht_seconds)


def agents_for(
    calls_per_hour: float,
    aht_seconds: float,
    *,
    target: float = 0.8,
    threshold_seconds: float = 30,
    max_occupancy: float = 1.0,
) -> int:
    """The smallest number of agents on the phones that meets ``target`` (and the occupancy cap)."""
    load = traffic(calls_per_hour, aht_seconds)
    if load <= 0:
        return 0
    agents = max(1, math.floor(load) + 1, math.ceil(load / max_occupancy - 1e-9))
    while agents < MAX_AGENTS:
        if service_level(agents, calls_per_hour, aht_seconds, threshold_seconds) >= target:
            return agents
        agents += 1
    return MAX_AGENTS


def rostered(on_phones: int, shrinkage: float) -> int:
    """Agents to roster so that ``on_phones`` are available after shrinkage."""
    return 0 if on_phones == 0 else math.ceil(on_phones / (1 - shrinkage) - 1e-9)


# -- history -----------------------------------------------------------------------------------------------------


@cache
def _holidays(year: int) -> frozenset[dt.date]:
    days = set(holidays.country_holidays("DK", years=year))
    days.update({dt.date(year, 12, 24), dt.date(year, 12, 31)})
    return frozenset(days)


def is_holiday(day: dt.date) -> bool:
    return day in _holidays(day.year)


def comparable_days(day: dt.date, weeks: int = 8) -> list[tuple[dt.date, int]]:
    """The history days for ``day`` with their weights (most recent first). A holiday is compared with Sundays."""
    if is_holiday(day):
        last_sunday = day - dt.timedelta(days=(day.weekday() + 1) % 7 or 7)
        candidates = [last_sunday - dt.timedelta(weeks=k) for k in range(weeks)]
    else:
        candidates = [day - dt.timedelta(weeks=k) for k in range(1, weeks + 1)]
    return [(past, weeks - index) for index, past in enumerate(candidates) if not is_holiday(past)]


def local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=CPH)


def hours_of(day: dt.date) -> list[dt.datetime]:
    """The starts of the hours of ``day`` in Copenhagen: 23 in spring, 25 in autumn."""
    start = local_midnight(day).astimezone(dt.UTC)
    end = local_midnight(day + dt.timedelta(days=1)).astimezone(dt.UTC)
    hours = []
    moment = start
    while moment < end:
        hours.append(moment.astimezone(CPH))
        moment += dt.timedelta(hours=1)
    return hours


def _handle_seconds(row: dict[str, object]) -> float | None:
    answered = row.get("answered_at")
    finished = row.get("wrapped_up_at") or row.get("ended_at")
    if not isinstance(answered, dt.datetime) or not isinstance(finished, dt.datetime):
        return None
    seconds = (repository.aware(finished) - repository.aware(answered)).total_seconds()
    return seconds if seconds > 0 else None


def _profile(
    rows: Iterable[dict[str, object]], days: list[tuple[dt.date, int]], default_aht_seconds: float
) -> tuple[dict[int, float], float]:
    """Weighted calls per wall-clock hour (0–23) and the weighted average handle time."""
    weights = dict(days)
    total_weight = sum(weights.values())
    per_hour: dict[int, float] = {}
    handled = 0.0
    handled_weight = 0.0
    for row in rows:
        offered = row["offered_at"]
        if not isinstance(offered, dt.datetime):
            continue
        local = repository.aware(offered).astimezone(CPH)
        weight = weights.get(local.date())
        if weight is None:
            continue
        per_hour[local.hour] = per_hour.get(local.hour, 0.0) + weight
        seconds = _handle_seconds(row)
        if seconds is not None:
            handled += seconds * weight
            handled_weight += weight
    calls = {hour: value / total_weight for hour, value in per_hour.items()} if total_weight else {}
    return calls, handled / handled_weight if handled_weight else default_aht_seconds


async def forecast_day(
    day: dt.date,
    *,
    target: float = 0.8,
    threshold_seconds: int = 30,
    shrinkage: float = 0.0,
    max_occupancy: float = 1.0,
    weeks: int = 8,
    default_aht_seconds: float = 240.0,
) -> list[HourForecast]:
    """The forecast for every hour of ``day`` (see the module docstring for the method)."""
    if not 0 < target < 1:
        raise ValueError("target must be between 0 and 1")
    if not 0 <= shrinkage < 1 or not 0 < max_occupancy <= 1:
        raise ValueError("shrinkage must be in [0, 1) and max_occupancy in (0, 1]")
    days = comparable_days(day, weeks)
    first = await repository.first_call_at()
    if first is None:
        days = []
    else:
        first_day = first.astimezone(CPH).date()
        days = [(past, weight) for past, weight in days if past >= first_day]
    windows = [(local_midnight(past), local_midnight(past + dt.timedelta(days=1))) for past, _ in days]
    rows = await repository.calls_in(windows)
    calls, aht = _profile(rows, days, default_aht_seconds)
    result = []
    for start in hours_of(day):
        expected = calls.get(start.hour, 0.0)
        on_phones = agents_for(
            expected, aht, target=target, threshold_seconds=threshold_seconds, max_occupancy=max_occupancy
        )
        result.append(
            HourForecast(start=start, calls=expected, aht_seconds=aht, agents_needed=rostered(on_phones, shrinkage))
        )
    return result
