"""Best times to call: from the last eight weeks of a kommune's calls, the hours the hotline was open (it took
calls then), ranked from the quietest: quiet before normal before busy (thirds of the call volume), then the
shortest average wait. A kommune admin can publish the result as a public page for citizens
(``/k/<code>/best-times``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from hotline.figures.service import CPH, Heatmap, Period, heatmap_for

WINDOW: Final = dt.timedelta(weeks=8)
PER_DAY: Final = 3


@dataclass(frozen=True)
class Slot:
    weekday: int
    hour: int
    offered: int
    average_wait: float | None
    level: str  # "quiet", "normal" or "busy" (by calls, in thirds of the open hours)


@dataclass(frozen=True)
class BestTimes:
    period: Period
    by_weekday: list[list[Slot]]  # the quietest open hours of each weekday, best first
    open_slots: list[Slot]


def window_ending(now: dt.datetime) -> Period:
    today = now.astimezone(CPH).date()
    return Period(today - dt.timedelta(days=WINDOW.days), today)


def rank(heatmap: Heatmap, period: Period) -> BestTimes:
    slots: list[Slot] = []
    volumes = sorted(heatmap.offered[d][h] for d in range(7) for h in range(24) if heatmap.offered[d][h] > 0)
    low = volumes[len(volumes) // 3] if volumes else 0
    high = volumes[(2 * len(volumes)) // 3] if volumes else 0
    for weekday in range(7):
        for hour in range(24):
            offered = heatmap.offered[weekday][hour]
            if offered <= 0:
                continue
            level = "quiet" if offered < low else "busy" if offered > high else "normal"
            slots.append(Slot(weekday, hour, offered, heatmap.average_wait(weekday, hour), level))

    def quietness(slot: Slot) -> tuple[int, float, int, int]:
        # Quiet hours before normal before busy; within a level the shortest average wait, then the fewest calls.
        level = ("quiet", "normal", "busy").index(slot.level)
        return (level, slot.average_wait if slot.average_wait is not None else 1e9, slot.offered, slot.hour)

    by_weekday = [sorted((s for s in slots if s.weekday == d), key=quietness)[:PER_DAY] for d in range(7)]
    return BestTimes(
        period=period, by_weekday=[sorted(day, key=lambda s: s.hour) for day in by_weekday], open_slots=slots
    )


async def best_times(kommune: str, now: dt.datetime) -> BestTimes:
    period = window_ending(now)
    return rank(await heatmap_for(kommune, period), period)
