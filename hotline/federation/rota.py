"""The rota: shifts the coordinator plans, pledges of agent hours from the member kommuner, agents' sign-ups,
and the plan held against the forecast (gaps) and against the hours actually worked.

Rules (each refusal names its field, and nothing is stored when anything is refused; the caller owns the
transaction):

- Shifts are planned in Copenhagen wall-clock time, never in the past, 15 minutes to 16 hours long; an end at or
  before the start means the next day (22:00–02:00). Bulk planning creates one shift per chosen weekday in a
  date range, all or none.
- A kommune admin pledges for its own kommune only; the coordinator for any member. Hours are a whole, positive
  number; the period ends on or after its start and is at most a year.
- An agent signs up to a shift that has not started, is not full, and does not overlap a shift the agent already
  holds; withdrawing is possible until the shift starts.
- Staffing per hour is counted in agent-hours: a sign-up to 16:30–20:00 gives 0.5 to the 16–17 hour and 1 to
  each later one, compared with the forecast's agents needed; an hour short of that is a gap.
- Hours worked are the presence spans in the states available, ringing, on_call and wrap_up (pause and offline
  are not work), per agent home kommune.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from hotline.federation import forecast, repository
from hotline.federation.forecast import CPH, local_midnight
from hotline.federation.schemas import FederationError, HourForecast
from hotline.tenancy import service as tenancy

MIN_SHIFT = dt.timedelta(minutes=15)
MAX_SHIFT = dt.timedelta(hours=16)
MAX_AGENTS_WANTED = 200
MAX_BULK_DAYS = 366
MAX_PLEDGE_HOURS = 100_000
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def parse_date(text: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise FederationError(field, "a date written YYYY-MM-DD", key="date_format") from None


def parse_time(text: str, field: str) -> dt.time:
    match = _TIME.match(text.strip())
    if not match:
        raise FederationError(field, "a time written HH:MM", key="time_format")
    return dt.time(int(match.group(1)), int(match.group(2)))


def parse_count(text: str, field: str, low: int, high: int) -> int:
    cleaned = text.strip()
    if cleaned.startswith("-") and cleaned[1:].isdigit():
        raise FederationError(field, "must not be negative", key="negative")
    if not cleaned.isdigit():
        raise FederationError(field, "a whole number", key="whole_number")
    value = int(cleaned)
    if not low <= value <= high:
        raise FederationError(field, f"must be from {low} to {high}", key="count_range", low=low, high=high)
    return value


def wall(day: dt.date, moment: dt.time) -> dt.datetime:
    """A Copenhagen wall-clock time as an aware instant (``fold=0``: the first of a repeated autumn hour)."""
    return dt.datetime.combine(day, moment, tzinfo=CPH)


def shift_span(day: dt.date, start: dt.time, end: dt.time) -> tuple[dt.datetime, dt.datetime]:
    starts = wall(day, start)
    ends = wall(day + dt.timedelta(days=1) if end <= start else day, end)
    return starts, ends


def _check_shift(starts: dt.datetime, ends: dt.datetime, now: dt.datetime, field: str = "date") -> None:
    length = ends.astimezone(dt.UTC) - starts.astimezone(dt.UTC)
    if length < MIN_SHIFT or length > MAX_SHIFT:
        raise FederationError("end", "a shift lasts from 15 minutes to 16 hours", key="shift_length")
    if starts <= now:
        raise FederationError(field, "the shift would start in the past", key="shift_past")


@dataclass(frozen=True)
class ShiftPlan:
    starts_at: dt.datetime
    ends_at: dt.datetime
    agents_wanted: int


def plan_shift(date_text: str, start_text: str, end_text: str, agents_text: str, now: dt.datetime) -> ShiftPlan:
    day = parse_date(date_text, "date")
    starts, ends = shift_span(day, parse_time(start_text, "start"), parse_time(end_text, "end"))
    agents = parse_count(agents_text, "agents_wanted", 1, MAX_AGENTS_WANTED)
    _check_shift(starts, ends, now)
    return ShiftPlan(starts, ends, agents)


def plan_bulk(
    first_text: str,
    last_text: str,
    weekdays: list[str],
    start_text: str,
    end_text: str,
    agents_text: str,
    now: dt.datetime,
) -> list[ShiftPlan]:
    """ "Every weekday 16–20" for a date range: one shift per chosen weekday, all refused if any is wrong."""
    first, last = parse_date(first_text, "from"), parse_date(last_text, "to")
    if last < first:
        raise FederationError("to", "the period ends before it starts", key="backwards")
    if (last - first).days + 1 > MAX_BULK_DAYS:
        raise FederationError("to", f"at most {MAX_BULK_DAYS} days at a time", key="too_many_days", days=MAX_BULK_DAYS)
    chosen = {WEEKDAYS.index(day) for day in weekdays if day in WEEKDAYS}
    if not chosen:
        raise FederationError("weekdays", "choose at least one weekday", key="no_weekday")
    start, end = parse_time(start_text, "start"), parse_time(end_text, "end")
    agents = parse_count(agents_text, "agents_wanted", 1, MAX_AGENTS_WANTED)
    plans = []
    day = first
    while day <= last:
        if day.weekday() in chosen:
            starts, ends = shift_span(day, start, end)
            _check_shift(starts, ends, now, field="from")
            plans.append(ShiftPlan(starts, ends, agents))
        day += dt.timedelta(days=1)
    if not plans:
        raise FederationError("weekdays", "none of the chosen weekdays falls in the period", key="no_weekday_in_period")
    return plans


async def create_shifts(plans: list[ShiftPlan], *, by: str, now: dt.datetime) -> list[int]:
    return await repository.insert_shifts(
        {
            "starts_at": plan.starts_at.astimezone(dt.UTC),
            "ends_at": plan.ends_at.astimezone(dt.UTC),
            "agents_wanted": plan.agents_wanted,
            "created_by": by[:200],
            "created_at": now.astimezone(dt.UTC),
        }
        for plan in plans
    )


async def delete_shift(shift_id: int, *, now: dt.datetime) -> None:
    """Remove a planned shift and its sign-ups; a shift that has started is history (pledges count it) and stays."""
    shift = await repository.shift(shift_id)
    if shift is None:
        raise FederationError("shift", f"no shift {shift_id}", not_found=True, key="no_shift")
    if repository.aware(shift["starts_at"]) <= now:
        raise FederationError("shift", "the shift has started: it can no longer be deleted", key="started")
    await repository.delete_shift(shift_id)


def _check_signup(
    shift_id: int, shift: dict[str, Any] | None, held: list[dict[str, Any]], signed: int, now: dt.datetime
) -> dict[str, Any]:
    """The sign-up rules (see the module docstring), given the shift, the agent's shifts and the shift's count;
    returns the shift."""
    if shift is None:
        raise FederationError("shift", f"no shift {shift_id}", not_found=True, key="no_shift")
    starts, ends = repository.aware(shift["starts_at"]), repository.aware(shift["ends_at"])
    if starts <= now:
        raise FederationError("shift", "the shift has already started", key="started")
    for other_shift in held:
        if other_shift["shift_id"] == shift_id:
            raise FederationError("shift", "you are already signed up to this shift", key="already_signed_up")
        if repository.aware(other_shift["starts_at"]) < ends and repository.aware(other_shift["ends_at"]) > starts:
            other = repository.aware(other_shift["starts_at"]).astimezone(CPH)
            raise FederationError(
                "shift",
                f"overlaps your shift from {other:%Y-%m-%d %H:%M}",
                key="overlaps",
                when=f"{other:%Y-%m-%d %H:%M}",
            )
    if signed >= shift["agents_wanted"]:
        raise FederationError("shift", "the shift is full", key="full")
    return shift


def _signup_row(shift_id: int, user_id: int, home_kommune: str, name: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "shift": shift_id,
        "user_id": user_id,
        "home_kommune": home_kommune[:4],
        "display_name": name[:200],
        "signed_up_at": now.astimezone(dt.UTC),
    }


async def sign_up(shift_id: int, *, user_id: int, home_kommune: str, name: str, now: dt.datetime) -> None:
    """Sign an agent up (in the caller's transaction, which the checks and the insert share)."""
    await repository.lock_for_signup(user_id, shift_id)
    shift = await repository.shift(shift_id)
    held = await repository.shifts_of_user(user_id) if shift is not None else []
    signed = await repository.count_signups(shift_id) if shift is not None else 0
    _check_signup(shift_id, shift, held, signed, now)
    await repository.insert_signup(_signup_row(shift_id, user_id, home_kommune, name, now))


@dataclass(frozen=True)
class SignupPlan:
    """One agent to sign up to one shift (see :func:`sign_up_many`)."""

    shift_id: int
    user_id: int
    home_kommune: str
    name: str


async def sign_up_many(signups: list[SignupPlan], *, now: dt.datetime) -> int:
    """Sign many agents up at once (a rota filled in one go, e.g. the demo's), under the rules of :func:`sign_up`
    and in the caller's transaction: the first refusal refuses them all. A few queries whatever the number."""
    if not signups:
        return 0
    user_ids = sorted({s.user_id for s in signups})
    shift_ids = sorted({s.shift_id for s in signups})
    await repository.lock_for_signups(user_ids, shift_ids)
    shifts = {row["id"]: row for row in await repository.shifts_by_id(shift_ids)}
    held: dict[int, list[dict[str, Any]]] = {user_id: [] for user_id in user_ids}
    if shifts:  # only shifts overlapping the batch's can refuse a sign-up in it
        first = min(repository.aware(row["starts_at"]) for row in shifts.values())
        last = max(repository.aware(row["ends_at"]) for row in shifts.values())
        for row in await repository.shifts_of_users(user_ids, first, last):
            held[row["user_id"]].append(row)
    signed: dict[int, int] = {}
    for row in await repository.signups_for(shift_ids):
        signed[row["shift"]] = signed.get(row["shift"], 0) + 1
    rows = []
    for plan in signups:
        shift = _check_signup(
            plan.shift_id, shifts.get(plan.shift_id), held[plan.user_id], signed.get(plan.shift_id, 0), now
        )
        held[plan.user_id].append(
            {"shift_id": plan.shift_id, "starts_at": shift["starts_at"], "ends_at": shift["ends_at"]}
        )
        signed[plan.shift_id] = signed.get(plan.shift_id, 0) + 1
        rows.append(_signup_row(plan.shift_id, plan.user_id, plan.home_kommune, plan.name, now))
    await repository.insert_signups(rows)
    return len(rows)


@dataclass(frozen=True)
class HeldShift:
    """A shift an agent is signed up to (Copenhagen time)."""

    shift_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime


async def upcoming_shifts(user_id: int, *, now: dt.datetime, limit: int = 5) -> list[HeldShift]:
    """The agent's shifts that have not ended yet, soonest first (one query)."""
    held = [
        HeldShift(
            row["shift_id"],
            repository.aware(row["starts_at"]).astimezone(CPH),
            repository.aware(row["ends_at"]).astimezone(CPH),
        )
        for row in await repository.shifts_of_user(user_id)
    ]
    return sorted((s for s in held if s.ends_at > now), key=lambda s: s.starts_at)[:limit]


async def withdraw(shift_id: int, *, user_id: int, now: dt.datetime) -> None:
    shift = await repository.shift(shift_id)
    if shift is None:
        raise FederationError("shift", f"no shift {shift_id}", not_found=True, key="no_shift")
    if repository.aware(shift["starts_at"]) <= now:
        raise FederationError("shift", "the shift has started: it can no longer be withdrawn from", key="started")
    if not await repository.delete_signup(shift_id, user_id):
        raise FederationError("shift", "you are not signed up to this shift", key="not_signed_up")


# -- pledges ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PledgePlan:
    kommune_code: str
    period_start: dt.date
    period_end: dt.date
    hours: int


async def plan_pledge(
    form_code: str, start_text: str, end_text: str, hours_text: str, *, may: set[str] | None
) -> PledgePlan:
    """Check a pledge. ``may``: the kommuner the person may pledge for (``None``: any, the coordinator)."""
    code = form_code.strip()
    if not re.fullmatch(r"[0-9]{4}", code):
        raise FederationError("kommune_code", "a 4-digit kommune code", key="kommune_code")
    if may is not None and code not in may:
        raise FederationError(
            "kommune_code", "you may pledge for your own kommune only", forbidden=True, key="own_kommune_only"
        )
    tenant = await tenancy.get_tenant(code)
    if tenant is None or not tenant.definition.member:
        raise FederationError("kommune_code", f"{code} is not a member kommune", key="not_member", code=code)
    start, end = parse_date(start_text, "period_start"), parse_date(end_text, "period_end")
    if end < start:
        raise FederationError("period_end", "the period ends before it starts", key="backwards")
    if (end - start).days + 1 > 366:
        raise FederationError("period_end", "a pledge covers at most a year", key="pledge_too_long")
    hours = parse_count(hours_text, "hours", 1, MAX_PLEDGE_HOURS)
    return PledgePlan(code, start, end, hours)


def _pledge_row(plan: PledgePlan, by: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "kommune_code": plan.kommune_code,
        "period_start": plan.period_start,
        "period_end": plan.period_end,
        "hours": plan.hours,
        "created_by": by[:200],
        "created_at": now.astimezone(dt.UTC),
    }


async def save_pledge(plan: PledgePlan, *, by: str, now: dt.datetime) -> int:
    return await repository.insert_pledge(_pledge_row(plan, by, now))


async def save_pledges(plans: list[PledgePlan], *, by: str, now: dt.datetime) -> None:
    """Store checked pledges in one statement (the caller owns the transaction)."""
    await repository.insert_pledges([_pledge_row(plan, by, now) for plan in plans])


@dataclass(frozen=True)
class PledgeStatus:
    """A pledge held against what the kommune's agents signed up for and what they worked in its period."""

    id: int
    kommune_code: str
    kommune_name: str
    period_start: dt.date
    period_end: dt.date
    hours: int
    signed_hours: float
    worked_hours: float

    @property
    def signed_short(self) -> bool:
        return self.signed_hours + 1e-9 < self.hours

    @property
    def worked_short(self) -> bool:
        return self.worked_hours + 1e-9 < self.hours


async def pledge_status(first: dt.date, last: dt.date) -> list[PledgeStatus]:
    """Every pledge whose period overlaps ``first``..``last``, with its kommune's signed and worked hours."""
    pledges = await repository.pledges_overlapping(first, last)
    names = {t.code: t.name for t in await tenancy.load_tenants()} if pledges else {}
    result = []
    cache: dict[tuple[dt.date, dt.date], tuple[dict[str, float], dict[str, float]]] = {}
    for row in pledges:
        period = (row["period_start"], row["period_end"])
        if period not in cache:
            since, until = local_midnight(period[0]), local_midnight(period[1] + dt.timedelta(days=1))
            cache[period] = (
                await repository.signed_hours_by_kommune(since, until),
                {k: v / 3600 for k, v in (await repository.worked_seconds_by_kommune(since, until)).items()},
            )
        signed, worked = cache[period]
        code = row["kommune_code"]
        result.append(
            PledgeStatus(
                id=row["id"],
                kommune_code=code,
                kommune_name=names.get(code, code),
                period_start=period[0],
                period_end=period[1],
                hours=row["hours"],
                signed_hours=signed.get(code, 0.0),
                worked_hours=worked.get(code, 0.0),
            )
        )
    return result


# -- the week held against the forecast ---------------------------------------------------------------------------


@dataclass
class ShiftView:
    id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    agents_wanted: int
    signups: list[dict[str, Any]] = field(default_factory=list)
    mine: bool = False
    started: bool = False

    @property
    def full(self) -> bool:
        return len(self.signups) >= self.agents_wanted


@dataclass(frozen=True)
class HourCell:
    start: dt.datetime
    needed: int
    calls: float
    planned: float
    signed: float

    @property
    def gap(self) -> float:
        """Agent-hours short of the forecast (0 when covered)."""
        return max(0.0, self.needed - self.signed)

    @property
    def planned_gap(self) -> float:
        return max(0.0, self.needed - self.planned)


@dataclass(frozen=True)
class DayView:
    day: dt.date
    cells: dict[int, HourCell]
    shifts: list[ShiftView]
    holiday: bool


@dataclass(frozen=True)
class WeekView:
    monday: dt.date
    days: list[DayView]
    hours: list[int]
    """The wall-clock hours the grid shows: those with shifts or expected calls (16–21 when there are none)."""

    @property
    def gaps(self) -> int:
        return sum(1 for day in self.days for hour in self.hours if hour in day.cells and day.cells[hour].gap > 0)


def _overlap_hours(start: dt.datetime, end: dt.datetime, hour_start: dt.datetime) -> float:
    hour_end = hour_start.astimezone(dt.UTC) + dt.timedelta(hours=1)
    overlap = min(end, hour_end) - max(start, hour_start.astimezone(dt.UTC))
    return max(0.0, overlap.total_seconds() / 3600)


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


async def week(
    monday: dt.date,
    *,
    user_id: int,
    now: dt.datetime,
    target: float,
    threshold_seconds: int,
    shrinkage: float,
    max_occupancy: float,
) -> WeekView:
    """The week from ``monday``: per day the shifts and, per hour, agents needed vs planned vs signed up."""
    first = local_midnight(monday)
    after = local_midnight(monday + dt.timedelta(days=7))
    shift_rows = await repository.shifts_between(first, after)
    signups = await repository.signups_for([row["id"] for row in shift_rows])
    views = []
    for row in shift_rows:
        view = ShiftView(
            id=row["id"],
            starts_at=repository.aware(row["starts_at"]).astimezone(CPH),
            ends_at=repository.aware(row["ends_at"]).astimezone(CPH),
            agents_wanted=row["agents_wanted"],
            signups=[s for s in signups if s["shift"] == row["id"]],
            started=repository.aware(row["starts_at"]) <= now,
        )
        view.mine = any(s["user_id"] == user_id for s in view.signups)
        views.append(view)
    days: list[DayView] = []
    shown: set[int] = set()
    for offset in range(7):
        day = monday + dt.timedelta(days=offset)
        hours: list[HourForecast] = await forecast.forecast_day(
            day, target=target, threshold_seconds=threshold_seconds, shrinkage=shrinkage, max_occupancy=max_occupancy
        )
        cells: dict[int, HourCell] = {}
        for hour in hours:
            if hour.start.hour in cells:
                continue  # the repeated autumn hour: the grid shows wall-clock hours once
            planned = sum(
                s.agents_wanted
                * _overlap_hours(s.starts_at.astimezone(dt.UTC), s.ends_at.astimezone(dt.UTC), hour.start)
                for s in views
            )
            signed = sum(
                len(s.signups)
                * _overlap_hours(s.starts_at.astimezone(dt.UTC), s.ends_at.astimezone(dt.UTC), hour.start)
                for s in views
            )
            cells[hour.start.hour] = HourCell(hour.start, hour.agents_needed, hour.calls, planned, signed)
            if planned > 0 or hour.calls >= 0.5:
                shown.add(hour.start.hour)
        day_shifts = [s for s in views if s.starts_at.date() == day]
        days.append(DayView(day=day, cells=cells, shifts=day_shifts, holiday=forecast.is_holiday(day)))
    return WeekView(monday=monday, days=days, hours=sorted(shown) or list(range(16, 22)))
