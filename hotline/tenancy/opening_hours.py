"""When a kommune (or one of its departments) is open: weekly periods, public holidays and closures.

Everything here is wall-clock time in the kommune's time zone (Europe/Copenhagen for Danish kommuner), so a
period "08:00-15:00" means 08:00 local time on both sides of a DST change. Instants come in and go out as
timezone-aware datetimes. After-hours routing and hand-off due times depend on this module.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

WEEKDAYS: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# How far ahead "next opening" looks before it concludes the place never opens.
_HORIZON_DAYS = 400


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A span of wall-clock time within one day; ``end`` may be 24:00, written as ``dt.time.max``."""

    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse ``"HH:MM-HH:MM"``; raises ValueError with the reason."""
        try:
            start_text, end_text = (part.strip() for part in text.split("-"))
        except ValueError:
            raise ValueError(f"{text!r} is not a period like '08:00-15:00'") from None
        start, end = _parse_time(start_text), _parse_time(end_text, allow_24=True)
        if end <= start:
            raise ValueError(f"{text!r} ends before it starts")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{_format_time(self.start)}-{_format_time(self.end)}"

    def contains(self, moment: dt.time) -> bool:
        # ``dt.time.max`` stands for 24:00, so the last microsecond of the day is still inside.
        return self.start <= moment and (moment < self.end or self.end == dt.time.max)


def _wall_span(period: Period, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The naive wall-clock span ``[start, end)`` of ``period`` on ``day``; 24:00 is the next midnight."""
    if period.end == dt.time.max:
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min)
    else:
        end = dt.datetime.combine(day, period.end)
    return dt.datetime.combine(day, period.start), end


def _parse_time(text: str, *, allow_24: bool = False) -> dt.time:
    if allow_24 and text == "24:00":
        return dt.time.max
    try:
        hours, minutes = text.split(":")
        digits = hours + minutes
        if len(hours) != 2 or len(minutes) != 2 or not (digits.isascii() and digits.isdigit()):
            raise ValueError
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{text!r} is not a time like '08:00'") from None


def _format_time(moment: dt.time) -> str:
    return "24:00" if moment == dt.time.max else moment.strftime("%H:%M")


def parse_periods(texts: Iterable[str]) -> tuple[Period, ...]:
    """Parse and sort the periods of one day; overlapping or touching periods are an error."""
    periods = sorted(Period.parse(text) for text in texts)
    for earlier, later in itertools.pairwise(periods):
        if later.start < earlier.end:
            raise ValueError(f"periods {earlier} and {later} overlap")
        if later.start == earlier.end:
            raise ValueError(f"periods {earlier} and {later} touch: write them as one period")
    return tuple(periods)


@dataclass(frozen=True, slots=True)
class Closure:
    """A date on which the place is closed, for the whole day or from ``start`` to ``end``."""

    date: dt.date
    reason: str
    start: dt.time | None = None
    end: dt.time | None = None

    @property
    def whole_day(self) -> bool:
        return self.start is None and self.end is None

    def clip(self, periods: Sequence[Period]) -> tuple[Period, ...]:
        """The parts of ``periods`` that stay open despite this closure."""
        if self.whole_day:
            return ()
        closed_from = self.start or dt.time.min
        closed_to = self.end or dt.time.max
        remaining: list[Period] = []
        for period in periods:
            if period.start < closed_from:
                remaining.append(Period(period.start, min(period.end, closed_from)))
            if period.end > closed_to:
                remaining.append(Period(max(period.start, closed_to), period.end))
        return tuple(p for p in remaining if p.end > p.start)


@lru_cache(maxsize=64)
def _country_holidays(country: str, year: int) -> Mapping[dt.date, str]:
    # Names in the country's own language: they are shown to agents and citizens of that country. The language
    # must be explicit: without it ``holidays`` guesses from LANGUAGE/LC_ALL/LANG (English under C.UTF-8).
    language = holidays.country_holidays(country).default_language
    return dict(holidays.country_holidays(country, years=year, language=language).items())


# Days the kommuner close although they are not public holidays (docs/ARCHITECTURE.md, opening hours).
_CUSTOMARY_CLOSURES: dict[str, tuple[tuple[int, int, dt.time | None, str], ...]] = {
    "DK": (
        (12, 24, None, "Juleaftensdag"),
        (12, 31, None, "Nytårsaftensdag"),
        (6, 5, dt.time(12, 0), "Grundlovsdag (eftermiddag)"),
    ),
    "SE": (
        (12, 24, None, "Julafton"),
        (12, 31, None, "Nyårsafton"),
        (6, 6, None, "Sveriges nationaldag"),
    ),
}


def public_closures(country: str, year: int) -> list[Closure]:
    """The country's public holidays and customary closing days of one year."""
    closures = [Closure(day, name) for day, name in _country_holidays(country, year).items()]
    for month, day, start, reason in _CUSTOMARY_CLOSURES.get(country, ()):
        closures.append(Closure(dt.date(year, month, day), reason, start=start))
    return closures


@lru_cache(maxsize=64)
def _public_closures_by_day(country: str, year: int) -> Mapping[dt.date, tuple[Closure, ...]]:
    # Every opening-hours question looks up several days; the directory asks it for all 98 kommuner at once.
    by_day: dict[dt.date, list[Closure]] = {}
    for closure in public_closures(country, year):
        by_day.setdefault(closure.date, []).append(closure)
    return {day: tuple(found) for day, found in by_day.items()}


def warm_up(countries: Iterable[str], years: Iterable[int]) -> None:
    """Load the holiday calendars before the first request needs them (the first load costs ~0.2 s)."""
    for country in countries:
        for year in years:
            _public_closures_by_day(country, year)


def _utc_offset(zone: ZoneInfo, moment: dt.datetime) -> dt.timedelta:
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None  # noqa: S101 - a ZoneInfo always has an offset for an aware datetime
    return offset


@lru_cache(maxsize=4096)
def _offset_pieces(zone: ZoneInfo, day: dt.date) -> tuple[tuple[dt.datetime, dt.datetime, dt.timedelta], ...]:
    """``(start, end, utc_offset)`` pieces of constant UTC offset in ``zone`` that cover every UTC instant at
    which the wall clock can show a time of ``day`` (offsets are below 24 h, so ``day`` ± 24 h).

    Transitions are found by sampling every hour and bisecting to the microsecond."""
    start = dt.datetime.combine(day - dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    last = start + dt.timedelta(days=3)
    step, tick = dt.timedelta(hours=1), dt.timedelta(microseconds=1)
    pieces: list[tuple[dt.datetime, dt.datetime, dt.timedelta]] = []
    offset = _utc_offset(zone, start)
    probe = start
    while probe < last:
        ahead = min(probe + step, last)
        if _utc_offset(zone, ahead) == offset:
            probe = ahead
            continue
        low, high = probe, ahead  # offset at low is ``offset``, at high it is not
        while high - low > tick:
            middle = low + (high - low) // 2
            if _utc_offset(zone, middle) == offset:
                low = middle
            else:
                high = middle
        pieces.append((start, high, offset))
        start, offset, probe = high, _utc_offset(zone, high), high
    pieces.append((start, last, offset))
    return tuple(pieces)


def _merged(intervals: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    """Sort and join overlapping or touching intervals."""
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class OpeningCalendar:
    """Opening hours of one place: weekly periods, plus closures that win over them.

    ``weekly`` maps weekday index (Monday = 0) to that day's periods. ``closures`` are explicit dates of this
    place; with ``public_holidays`` the country's holidays and customary closing days apply as well.
    """

    weekly: Mapping[int, tuple[Period, ...]]
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Copenhagen"))
    country: str = "DK"
    public_holidays: bool = True
    closures: tuple[Closure, ...] = ()

    @classmethod
    def from_texts(
        cls,
        weekly: Mapping[str, Sequence[str]],
        *,
        closures: Iterable[Closure] = (),
        country: str = "DK",
        timezone: str = "Europe/Copenhagen",
        public_holidays: bool = True,
    ) -> OpeningCalendar:
        """Build from ``{"monday": ["08:00-15:00"], …}``; a missing weekday is closed all day."""
        unknown = set(weekly) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown weekday(s): {', '.join(sorted(unknown))}")
        return cls(
            weekly={index: parse_periods(weekly.get(name, ())) for index, name in enumerate(WEEKDAYS)},
            timezone=ZoneInfo(timezone),
            country=country,
            public_holidays=public_holidays,
            closures=tuple(closures),
        )

    def with_weekly(self, weekly: Mapping[str, Sequence[str]]) -> OpeningCalendar:
        """The same closures with other weekly hours: a department inside its kommune."""
        return OpeningCalendar.from_texts(
            weekly,
            closures=self.closures,
            country=self.country,
            timezone=self.timezone.key,
            public_holidays=self.public_holidays,
        )

    # -- questions about a day -------------------------------------------------------------------------

    def closures_on(self, day: dt.date) -> list[Closure]:
        found = [closure for closure in self.closures if closure.date == day]
        if self.public_holidays:
            found.extend(_public_closures_by_day(self.country, day.year).get(day, ()))
        return found

    def periods_on(self, day: dt.date) -> tuple[Period, ...]:
        """The wall-clock periods the place is open on ``day``, after closures."""
        periods = self.weekly.get(day.weekday(), ())
        for closure in self.closures_on(day):
            periods = closure.clip(periods)
            if not periods:
                break
        return periods

    # -- questions about an instant --------------------------------------------------------------------
    #
    # ``is_open`` is the definition: an instant is open when its local wall-clock time lies in one of the
    # periods of its local date. Openings and closings are where that answer changes, so they are computed
    # from the real-time (UTC) intervals that each day's periods cover: across DST a wall-clock period can
    # cover less real time (spring gap), more (autumn overlap) or even two separate stretches (a period that
    # starts inside the repeated hour). Touching intervals, e.g. 24:00 followed by 00:00, are one stretch.

    def local(self, instant: dt.datetime) -> dt.datetime:
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError("instant must be timezone-aware")
        return instant.astimezone(self.timezone)

    def is_open(self, instant: dt.datetime) -> bool:
        here = self.local(instant)
        return any(period.contains(here.time()) for period in self.periods_on(here.date()))

    def next_opening(self, instant: dt.datetime) -> dt.datetime | None:
        """The first instant after ``instant`` at which a closed place opens (``instant`` itself is never
        returned: if the place is open now this is the start of the *next* opening). None if it never opens
        within the coming year."""
        for start, _end in self._open_stretches(instant):
            if start > instant:
                return start.astimezone(self.timezone)
        return None

    def next_closing(self, instant: dt.datetime) -> dt.datetime | None:
        """When an open place closes next: the first instant after ``instant`` at which it is closed. None
        when it is closed now, or when it stays open for longer than the coming year."""
        if not self.is_open(instant):
            return None
        for start, end in self._open_stretches(instant):
            if start <= instant < end:
                return end.astimezone(self.timezone)
            if start > instant:  # pragma: no cover - is_open and the stretches agree by construction
                break
        return None

    def open_at_or_next(self, instant: dt.datetime) -> dt.datetime | None:
        """``instant`` itself when open, else the next opening: the earliest moment someone can act on it.
        Hand-offs use this as their due time."""
        return instant if self.is_open(instant) else self.next_opening(instant)

    def _open_stretches(self, instant: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Maximal UTC intervals ``[start, end)`` during which the place is open, in order, from the one
        around (or first after) ``instant`` until ``_HORIZON_DAYS`` ahead."""
        first_day = self.local(instant).date() - dt.timedelta(days=2)
        pending: list[tuple[dt.datetime, dt.datetime]] = []
        for offset in range(_HORIZON_DAYS + 3):
            day = first_day + dt.timedelta(days=offset)
            pending = _merged([*pending, *self._utc_intervals(day)])
            # Wall times of later days are at or after the next midnight and UTC offsets are below 24 h, so
            # every later interval starts after ``bound``: what ends by then is final.
            bound = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
            while pending and pending[0][1] <= bound:
                yield pending.pop(0)

    def _utc_intervals(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The UTC intervals in which the wall clock shows a time within one of ``day``'s periods."""
        pieces = _offset_pieces(self.timezone, day)
        intervals: list[tuple[dt.datetime, dt.datetime]] = []
        for period in self.periods_on(day):
            wall_start, wall_end = _wall_span(period, day)
            for piece_start, piece_end, offset in pieces:
                # Within a piece the wall clock is UTC + offset, so it shows [wall_start, wall_end) exactly
                # during [wall_start - offset, wall_end - offset).
                start = max(piece_start, (wall_start - offset).replace(tzinfo=dt.UTC))
                end = min(piece_end, (wall_end - offset).replace(tzinfo=dt.UTC))
                if start < end:
                    intervals.append((start, end))
        return intervals

    # -- presentation helpers --------------------------------------------------------------------------

    def week_texts(self) -> dict[str, list[str]]:
        return {name: [str(p) for p in self.weekly.get(index, ())] for index, name in enumerate(WEEKDAYS)}

    def upcoming_closures(self, start: dt.date, days: int) -> list[Closure]:
        """Closures within ``days`` from ``start`` that take away opening hours (for the tenant page)."""
        found: list[Closure] = []
        for offset in range(days):
            day = start + dt.timedelta(days=offset)
            periods = self.weekly.get(day.weekday(), ())
            found.extend(closure for closure in self.closures_on(day) if closure.clip(periods) != periods)
        return found
