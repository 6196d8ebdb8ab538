"""The service figures of a kommune (its citizens' calls: ``Call.kommune_code``) or of the whole federation for a
period [start, end) of Copenhagen dates. Definitions (docs/FIGURES.md says the same for people):

- **offered**: calls offered in the period (``offered_at``); **answered**: with ``answered_at``; **abandoned**: not
  answered, with ``abandoned_at``; **short abandons**: abandoned within ``short_abandon`` seconds (e.g. 5 s: a
  misdial or an instant hang-up), shown apart and left out of the service level.
- **ASA**: average seconds from offered to answered, over answered calls.
- **service level at T**: answered within T seconds / (answered + abandoned after the short threshold). Callbacks
  chosen in the queue are neither: they are measured by the callback service level.
- **first-contact resolution**: answered calls with outcome ``solved`` / answered calls with an outcome.
- **transfers**, **misrouted**, **non-member** (``mode`` other than member) calls: counts.
- **callback service level**: callbacks requested in the period and done within ``callback`` seconds / callbacks
  requested.
- **replies within 2 working days**: letters written in the period and sent before the end of the second working
  day after the day they were written (Copenhagen; working days are Monday–Friday without Danish public holidays
  and the customary whole closing days: 24 and 31 December) / letters written.
- **hand-offs within a week**: hand-offs created in the period, closed *and* the citizen informed within 7 days /
  hand-offs created; **overdue**: hand-offs created in the period still not closed past their due time (now).
- **CSAT**: survey answers 4–5 / answers; **good treatment**: "yes" / answers; **NPS**: % promoters (9–10) −
  % detractors (0–6) over answers that gave a score.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any, Final
from zoneinfo import ZoneInfo

from hotline.figures import repository
from hotline.tenancy.opening_hours import public_closures

CPH: Final = ZoneInfo("Europe/Copenhagen")
MAX_PERIOD_DAYS: Final = 3 * 366


class PeriodError(ValueError):
    """A period the figures cannot be computed for; ``field`` names the offending query parameter."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Period:
    """[start, end) in Copenhagen dates."""

    start: dt.date
    end: dt.date

    @classmethod
    def parse(cls, start: str, end: str) -> Period:
        values: dict[str, dt.date] = {}
        for name, text in (("from", start), ("to", end)):
            try:
                values[name] = dt.date.fromisoformat(text.strip())
            except ValueError:
                raise PeriodError(name, f"{name}: {text[:20]!r} is not a date (use YYYY-MM-DD)") from None
        return cls.checked(values["from"], values["to"])

    @classmethod
    def checked(cls, start: dt.date, end: dt.date) -> Period:
        if end <= start:
            raise PeriodError("to", "to: the period must end after it starts (to is the first day not included)")
        if (end - start).days > MAX_PERIOD_DAYS:
            raise PeriodError("to", "to: a period can be at most 3 years long")
        return cls(start, end)

    def instants(self) -> tuple[dt.datetime, dt.datetime]:
        """The UTC instants of Copenhagen midnight at the start and at the end."""
        return local_midnight(self.start), local_midnight(self.end)

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days)]


def local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=CPH).astimezone(dt.UTC)


def month_of(today: dt.date) -> Period:
    start = today.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return Period(start, end)


@dataclass(frozen=True)
class Thresholds:
    """Seconds (and days) the figures are measured against; validated before they reach SQL."""

    short_abandon: int = 5
    first: int = 30
    second: int = 60
    callback: int = 2 * 3600
    letter_working_days: int = 2
    handoff_days: int = 7

    def __post_init__(self) -> None:
        if not 0 <= self.short_abandon <= 120:
            raise PeriodError("short", "short: the short-abandon threshold must be 0–120 seconds")
        if not 1 <= self.first <= 3600:
            raise PeriodError("sl1", "sl1: the first service-level threshold must be 1–3600 seconds")
        if not self.first <= self.second <= 3600:
            raise PeriodError("sl2", "sl2: the second threshold must be at least the first and at most 3600 s")

    def limits(self) -> repository.Limits:
        return repository.Limits(
            short_abandon=int(self.short_abandon),
            first=int(self.first),
            second=int(self.second),
            callback=int(self.callback),
            handoff_week=int(self.handoff_days) * 86400,
        )


def _share(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass
class Figures:
    """Counts of one kommune (or the federation, or one topic); the rates are derived from them."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    wait_sum: float = 0.0
    within_first: int = 0
    within_second: int = 0
    with_outcome: int = 0
    solved: int = 0
    transferred: int = 0
    misrouted: int = 0
    non_member: int = 0
    callback_requested: int = 0
    callbacks: int = 0
    callbacks_in_time: int = 0
    letters: int = 0
    letters_in_time: int = 0
    handoffs: int = 0
    handoffs_in_week: int = 0
    handoffs_overdue: int = 0
    surveys: int = 0
    satisfied: int = 0
    treated_well: int = 0
    treated_answers: int = 0
    nps_answers: int = 0
    promoters: int = 0
    detractors: int = 0

    def add(self, row: dict[str, Any]) -> None:
        for item in fields(self):
            if item.name in row and row[item.name] is not None:
                current = getattr(self, item.name)
                setattr(self, item.name, current + type(current)(row[item.name]))

    def merge(self, other: Figures) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    @property
    def long_abandoned(self) -> int:
        return self.abandoned - self.short_abandoned

    @property
    def sl_base(self) -> int:
        return self.answered + self.long_abandoned

    @property
    def asa(self) -> float | None:
        return round(self.wait_sum / self.answered, 1) if self.answered else None

    @property
    def nps(self) -> float | None:
        if not self.nps_answers:
            return None
        return round(100.0 * (self.promoters - self.detractors) / self.nps_answers, 1)

    def values(self) -> dict[str, float | None]:
        """Every figure by its key (see :data:`FIGURES`)."""
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "short_abandoned": self.short_abandoned,
            "abandon_rate": _share(self.long_abandoned, self.offered - self.short_abandoned),
            "asa": self.asa,
            "sl1": _share(self.within_first, self.sl_base),
            "sl2": _share(self.within_second, self.sl_base),
            "fcr": _share(self.solved, self.with_outcome),
            "transfers": self.transferred,
            "misrouted": self.misrouted,
            "non_member": self.non_member,
            "callbacks": self.callbacks,
            "callback_sl": _share(self.callbacks_in_time, self.callbacks),
            "letters": self.letters,
            "letters_sl": _share(self.letters_in_time, self.letters),
            "handoffs": self.handoffs,
            "handoff_week": _share(self.handoffs_in_week, self.handoffs),
            "handoffs_overdue": self.handoffs_overdue,
            "surveys": self.surveys,
            "csat": _share(self.satisfied, self.surveys),
            # of those who answered the optional follow-up question, not of every answer
            "good_treatment": _share(self.treated_well, self.treated_answers),
            "nps": self.nps,
        }


@dataclass(frozen=True)
class FigureInfo:
    key: str
    unit: str  # "count", "seconds", "percent", "score"
    low: float
    high: float
    better: str  # "high", "low" or "" (a volume, no better direction)


FIGURES: Final[dict[str, FigureInfo]] = {
    info.key: info
    for info in (
        FigureInfo("offered", "count", 0, 10_000_000, ""),
        FigureInfo("answered", "count", 0, 10_000_000, ""),
        FigureInfo("abandoned", "count", 0, 10_000_000, "low"),
        FigureInfo("short_abandoned", "count", 0, 10_000_000, ""),
        FigureInfo("abandon_rate", "percent", 0, 100, "low"),
        FigureInfo("asa", "seconds", 0, 3600, "low"),
        FigureInfo("sl1", "percent", 0, 100, "high"),
        FigureInfo("sl2", "percent", 0, 100, "high"),
        FigureInfo("fcr", "percent", 0, 100, "high"),
        FigureInfo("transfers", "count", 0, 10_000_000, ""),
        FigureInfo("misrouted", "count", 0, 10_000_000, "low"),
        FigureInfo("non_member", "count", 0, 10_000_000, ""),
        FigureInfo("callbacks", "count", 0, 10_000_000, ""),
        FigureInfo("callback_sl", "percent", 0, 100, "high"),
        FigureInfo("letters", "count", 0, 10_000_000, ""),
        FigureInfo("letters_sl", "percent", 0, 100, "high"),
        FigureInfo("handoffs", "count", 0, 10_000_000, ""),
        FigureInfo("handoff_week", "percent", 0, 100, "high"),
        FigureInfo("handoffs_overdue", "count", 0, 100_000, "low"),
        FigureInfo("surveys", "count", 0, 10_000_000, ""),
        FigureInfo("csat", "percent", 0, 100, "high"),
        FigureInfo("good_treatment", "percent", 0, 100, "high"),
        FigureInfo("nps", "score", -100, 100, "high"),
    )
}


# -- working days -------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _closed_days(year: int) -> frozenset[dt.date]:
    return frozenset(c.date for c in public_closures("DK", year) if c.whole_day)


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in _closed_days(day.year)


def working_day_deadline(created: dt.datetime, working_days: int) -> dt.datetime:
    """The end (Copenhagen midnight) of the ``working_days``-th working day after the day ``created`` falls on."""
    day = created.astimezone(CPH).date()
    counted = 0
    while counted < working_days:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return local_midnight(day + dt.timedelta(days=1))


# -- computing ----------------------------------------------------------------------------------------------


@dataclass
class Report:
    """Everything a dashboard shows for one kommune or the federation."""

    period: Period
    thresholds: Thresholds
    total: Figures
    by_kommune: dict[str, Figures] = field(default_factory=dict)
    by_topic: dict[str, Figures] = field(default_factory=dict)
    days: list[DayPoint] = field(default_factory=list)
    heatmap: Heatmap | None = None


@dataclass(frozen=True)
class DayPoint:
    day: dt.date
    offered: int
    answered: int
    sl1: float | None


@dataclass
class Heatmap:
    """Weekday (0 = Monday) × hour (Copenhagen) of calls offered and the average answer wait."""

    offered: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    answered: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    wait_sum: list[list[float]] = field(default_factory=lambda: [[0.0] * 24 for _ in range(7)])

    def average_wait(self, weekday: int, hour: int) -> float | None:
        answered = self.answered[weekday][hour]
        return round(self.wait_sum[weekday][hour] / answered, 1) if answered else None


def _hour_start(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{text}:00:00+00:00")


def fold_hours(rows: Iterable[dict[str, Any]], period: Period) -> tuple[list[DayPoint], Heatmap]:
    """UTC hour rows → Copenhagen days and the weekday × hour heatmap (DST-correct: each UTC hour is one local
    hour; the repeated autumn hour lands twice in the same local hour cell)."""
    per_day: dict[dt.date, Figures] = defaultdict(Figures)
    heatmap = Heatmap()
    for row in rows:
        local = _hour_start(str(row["hour"])).astimezone(CPH)
        per_day[local.date()].add(row)
        weekday, hour = local.weekday(), local.hour
        heatmap.offered[weekday][hour] += int(row["offered"] or 0)
        heatmap.answered[weekday][hour] += int(row["answered"] or 0)
        heatmap.wait_sum[weekday][hour] += float(row["wait_sum"] or 0)
    days = []
    for day in period.days:
        figures = per_day.get(day, Figures())
        days.append(DayPoint(day, figures.offered, figures.answered, figures.values()["sl1"]))
    return days, heatmap


async def _letters_in_time(
    start: dt.datetime, end: dt.datetime, kommune: str | None, working_days: int, now: dt.datetime
) -> dict[str, tuple[int, int]]:
    """Per kommune: (letters written, letters sent within the working-day deadline)."""
    result: dict[str, list[int]] = {}
    for row in await repository.letter_totals(start, end, kommune):
        result[row["kommune_code"]] = [int(row["letters"] or 0), int(row["letters_fast"] or 0)]
    if working_days < 2:
        raise ValueError("the 48-hour shortcut assumes at least 2 working days")
    for row in await repository.slow_letters(start, end, kommune):
        created, sent = repository.aware(row["created_at"]), repository.aware(row["sent_at"])
        if sent < working_day_deadline(created, working_days):
            result[row["kommune_code"]][1] += 1
    return {code: (values[0], values[1]) for code, values in result.items()}


async def _together(*queries: Awaitable[Any]) -> list[Any]:
    """Run independent read-only queries at once (each on its own pooled connection) — unless the caller holds a
    transaction, whose single connection cannot run two statements at a time; then one after the other."""
    if repository.in_transaction():
        return [await query for query in queries]
    return list(await asyncio.gather(*queries))


async def compute(
    period: Period,
    *,
    kommune: str | None,
    now: dt.datetime,
    thresholds: Thresholds | None = None,
    by_kommune: bool = False,
    detail: bool = True,
) -> Report:
    """The figures of ``kommune`` (None: the federation) for ``period``. ``by_kommune`` adds one row per kommune
    (the federation dashboard); ``detail`` adds days, heatmap and topics (the kommune dashboard)."""
    thresholds = thresholds or Thresholds()
    limits = thresholds.limits()
    start, end = period.instants()
    per: dict[str, Figures] = defaultdict(Figures)
    # Independent read-only aggregates: run them at once (each takes its own pooled connection).
    calls, callbacks, letters, handoffs, surveys = await _together(
        repository.call_totals(start, end, kommune, limits, by_kommune=True),
        repository.callback_totals(start, end, kommune, limits),
        _letters_in_time(start, end, kommune, thresholds.letter_working_days, now),
        repository.handoff_totals(start, end, kommune, limits, now),
        repository.survey_totals(period.start, period.end, kommune, by="kommune_code"),
    )
    for row in [*calls, *callbacks, *handoffs]:
        per[row["kommune_code"]].add(row)
    for code, (written, in_time) in letters.items():
        per[code].add({"letters": written, "letters_in_time": in_time})
    for row in surveys:
        per[row["grp"]].add(row)
    total = Figures()
    for figures in per.values():
        total.merge(figures)
    report = Report(period=period, thresholds=thresholds, total=total)
    if by_kommune:
        report.by_kommune = dict(sorted(per.items()))
    if detail:
        hours, topic_calls, topic_surveys = await _together(
            repository.calls_by_hour(start, end, kommune, limits),
            repository.calls_by_topic(start, end, kommune, limits),
            repository.survey_totals(period.start, period.end, kommune, by="topic"),
        )
        report.days, report.heatmap = fold_hours(hours, period)
        topics: dict[str, Figures] = defaultdict(Figures)
        for row in topic_calls:
            topics[row["topic"] or ""].add(row)
        for row in topic_surveys:
            topics[row["grp"] or ""].add(row)
        report.by_topic = dict(sorted(topics.items(), key=lambda item: -item[1].offered))
    return report


async def heatmap_for(kommune: str | None, period: Period, thresholds: Thresholds | None = None) -> Heatmap:
    limits = (thresholds or Thresholds()).limits()
    start, end = period.instants()
    _, heatmap = fold_hours(await repository.calls_by_hour(start, end, kommune, limits), period)
    return heatmap
