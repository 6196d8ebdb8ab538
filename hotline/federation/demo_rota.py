"""The demo's rota: shifts for the last eight weeks, this week and the next, planned from the staffing forecast;
most of them filled by agents of the member kommuner, a few left short (so that the rota's gap flagging has
something to show); and each member kommune's pledge of hours per month. Everything is written through the rota's
own service functions (:func:`rota.create_shifts`, :func:`rota.sign_up_many`, :func:`rota.save_pledges`), so the
sign-up rules hold for the demo's data too.

- **Shifts** follow the forecast of this week (each weekday's agents needed per hour; a holiday is planned like a
  Sunday, as the forecast treats it): the hours' needs are cut into layers, each layer's stretch of the day is one
  shift (split above 5 hours, at least 2 hours long), and equal stretches are one shift wanting several agents.
  So the plan meets the forecast hour by hour without planning many more agent-hours than it needs.
- **Agents**: three synthetic agents per member kommune (user ids from 300,000, never a real user's). An agent
  takes at most one shift a day, the one with the fewest hours that week first, so every kommune's agents carry
  about the same share. Past weeks were nearly full, this week has a few short shifts, next week still has open
  places.
- **Pledges**: per member kommune and calendar month, about its share of the month's planned hours; a few
  kommuner pledged more than their agents signed up for.

Reproducible (the same forecast and members give the same rota) and idempotent per week: a week that already holds
a shift the demo planned is left alone, as is a month whose pledges the demo made, so restarting the demo
duplicates nothing, and a restart a week later adds the new next week. The caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Final

from hotline.federation import forecast, repository, rota, settings
from hotline.federation.forecast import CPH, local_midnight
from hotline.tenancy import service as tenancy

PLANNER: Final = "hotline demo"
"""``created_by`` of everything the demo plans: how a later start recognises its own weeks and months."""
WEEKS_BACK: Final = 8
AGENTS_PER_MEMBER: Final = 3
FIRST_AGENT_ID: Final = 300_000
MIN_SHIFT_HOURS: Final = 2
MAX_SHIFT_HOURS: Final = 5
# Shifts left short, per kind of week: (how many, at most how many places open in each).
SHORT_SHIFTS: Final = {"past": (1, 1), "current": (3, 2), "next": (5, 2)}
PAST_HEADROOM: Final = 1.15
FIRST_NAMES: Final = (
    "Anne", "Mette", "Lone", "Hanne", "Susanne", "Camilla", "Louise", "Maria", "Sofie", "Ida", "Emma", "Julie",
    "Peter", "Jens", "Lars", "Søren", "Henrik", "Thomas", "Martin", "Mads", "Rasmus", "Jonas", "Mikkel", "Ali",
    "Fatima", "Aisha", "Omar", "Karin", "Birgit", "Niels", "Ole", "Bo", "Kirsten", "Pia", "Morten", "Frederik",
)  # fmt: skip
INITIALS: Final = "ABDEFGHJKLMNOPRSTV"


@dataclass(frozen=True)
class DemoAgent:
    user_id: int
    home_kommune: str
    name: str


def demo_agents(member_codes: list[str]) -> list[DemoAgent]:
    """Three agents per member kommune, the same ids and names at every start."""
    agents = []
    for code in sorted(member_codes):
        for k in range(AGENTS_PER_MEMBER):
            pick = random.Random(f"agent-{code}-{k}")  # noqa: S311 - made-up names, not a secret
            name = f"{pick.choice(FIRST_NAMES)} {pick.choice(INITIALS)}."
            agents.append(DemoAgent(FIRST_AGENT_ID + int(code) * 10 + k, code, name))
    return agents


def _pieces(start: int, end: int, opens: int, closes: int) -> list[tuple[int, int]]:
    """A stretch of hours as shifts of ``MIN_SHIFT_HOURS``..``MAX_SHIFT_HOURS`` inside the open hours."""
    length = end - start
    if length > MAX_SHIFT_HOURS:
        middle = start + (length + 1) // 2
        return _pieces(start, middle, opens, closes) + _pieces(middle, end, opens, closes)
    if length < MIN_SHIFT_HOURS:
        if start + MIN_SHIFT_HOURS <= closes:
            end = start + MIN_SHIFT_HOURS
        else:
            start = max(opens, end - MIN_SHIFT_HOURS)
    return [(start, end)]


def shifts_for_day(needs: dict[int, int]) -> list[tuple[int, int, int]]:
    """(start hour, end hour, agents wanted) that cover ``needs`` (agents needed per wall-clock hour) hour by hour:
    each layer of the needs is a stretch of the day, and equal stretches are one shift for several agents."""
    open_hours = [hour for hour, need in needs.items() if need > 0]
    if not open_hours:
        return []
    opens, closes = min(open_hours), max(open_hours) + 1
    wanted: dict[tuple[int, int], int] = defaultdict(int)
    for level in range(1, max(needs.values()) + 1):
        run_start: int | None = None
        for hour in range(opens, closes + 1):
            inside = needs.get(hour, 0) >= level
            if inside and run_start is None:
                run_start = hour
            elif not inside and run_start is not None:
                for piece in _pieces(run_start, hour, opens, closes):
                    wanted[piece] += 1
                run_start = None
    return sorted((start, end, agents) for (start, end), agents in wanted.items())


async def _needs(day: dt.date, config: settings.FederationConfig) -> dict[int, int]:
    hours = await forecast.forecast_day(
        day,
        target=config.target,
        threshold_seconds=config.threshold_seconds,
        shrinkage=config.shrinkage,
        max_occupancy=config.max_occupancy,
    )
    needs: dict[int, int] = {}
    for hour in hours:  # the repeated autumn hour: the larger need of the two
        needs[hour.start.hour] = max(needs.get(hour.start.hour, 0), hour.agents_needed)
    return needs


async def _templates(monday: dt.date, config: settings.FederationConfig) -> dict[int, dict[int, int]]:
    """Agents needed per hour for each weekday (0 = Monday), from this week's forecast; a weekday that is a holiday
    this week is taken from the next week where it is not (a holiday itself is planned as a Sunday)."""
    templates: dict[int, dict[int, int]] = {}
    for weekday in range(7):
        day = monday + dt.timedelta(days=weekday)
        while forecast.is_holiday(day) and weekday != 6 and day < monday + dt.timedelta(weeks=4):
            day += dt.timedelta(weeks=1)
        templates[weekday] = await _needs(day, config)
    return templates


def _kind(monday: dt.date, this_monday: dt.date) -> str:
    return "current" if monday == this_monday else ("next" if monday > this_monday else "past")


@dataclass
class _Planned:
    day: dt.date
    start: int
    end: int
    wanted: int
    fill: int

    @property
    def span(self) -> tuple[dt.datetime, dt.datetime]:
        return rota.shift_span(self.day, dt.time(self.start), dt.time(self.end % 24))


def _plan_week(monday: dt.date, kind: str, templates: dict[int, dict[int, int]], seed: int) -> list[_Planned]:
    pick = random.Random(f"rota-{seed}-{monday.isoformat()}")  # noqa: S311 - demo data, not a secret
    planned = []
    for offset in range(7):
        day = monday + dt.timedelta(days=offset)
        needs = templates[6 if forecast.is_holiday(day) else day.weekday()]
        if kind == "past":
            # A past week's forecast came from fewer weeks of history and differs from this week's by chance:
            # the headroom keeps the past from looking under-planned (the coordinator's margin, then).
            needs = {hour: math.ceil(need * PAST_HEADROOM) for hour, need in needs.items()}
        planned += [_Planned(day, start, end, wanted, wanted) for start, end, wanted in shifts_for_day(needs)]
    count, most = SHORT_SHIFTS[kind]
    candidates = [p for p in planned if p.wanted >= 2] or planned
    for short in pick.sample(candidates, min(count, len(candidates))):
        short.fill = short.wanted - pick.randint(1, min(most, short.wanted))
    return planned


def _assign(
    week: list[_Planned],
    ids: dict[tuple[dt.datetime, dt.datetime], int],
    agents: list[DemoAgent],
    hours: dict[str | int, int],
    pick: random.Random,
) -> list[rota.SignupPlan]:
    """Agents for each shift: at most one shift a day each; the kommune, then the agent, with the fewest hours so
    far first (``hours`` is kept across weeks, by kommune code and by user id), so the kommuner share evenly."""
    signups = []
    by_day: dict[dt.date, list[_Planned]] = defaultdict(list)
    for planned in week:
        by_day[planned.day].append(planned)
    for day in sorted(by_day):
        busy: set[int] = set()
        for planned in sorted(by_day[day], key=lambda p: (p.start, p.end)):
            free = [a for a in agents if a.user_id not in busy]
            for agent in _fewest_hours_first(free, hours, planned.fill, pick):
                busy.add(agent.user_id)
                hours[agent.user_id] += planned.end - planned.start
                hours[agent.home_kommune] += planned.end - planned.start
                signups.append(rota.SignupPlan(ids[planned.span], agent.user_id, agent.home_kommune, agent.name))
    return signups


def _fewest_hours_first(
    free: list[DemoAgent], hours: dict[str | int, int], count: int, pick: random.Random
) -> list[DemoAgent]:
    chosen: list[DemoAgent] = []
    taken: set[str] = set()
    # One agent per kommune at a time, so a shift's places go to different kommuner where possible.
    ranked = sorted(free, key=lambda a: (hours[a.home_kommune], hours[a.user_id], pick.random()))
    for agent in ranked:
        if len(chosen) == count:
            break
        if agent.home_kommune not in taken:
            chosen.append(agent)
            taken.add(agent.home_kommune)
    for agent in ranked:
        if len(chosen) == count:
            break
        if agent not in chosen:
            chosen.append(agent)
    return chosen


def _month_of(day: dt.date) -> tuple[dt.date, dt.date]:
    first = day.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return first, following - dt.timedelta(days=1)


async def _pledges(
    planned: list[_Planned], members: list[str], taken: set[tuple[str, dt.date]], today: dt.date, pick: random.Random
) -> list[rota.PledgePlan]:
    """Every member's pledge for each month of the plan: about what its agents worked in a month that is over (the
    history's presence), else its share of the month's planned hours; most a little under that, a few over it."""
    hours_in: dict[tuple[dt.date, dt.date], int] = defaultdict(int)
    for shift in planned:
        hours_in[_month_of(shift.day)] += shift.wanted * (shift.end - shift.start)
    plans = []
    for (first, last), total in sorted(hours_in.items()):
        wanted = [code for code in members if (code, first) not in taken]
        if not wanted:
            continue
        worked: dict[str, float] = {}
        if last < today:
            since, until = local_midnight(first), local_midnight(last + dt.timedelta(days=1))
            worked = {k: v / 3600 for k, v in (await repository.worked_seconds_by_kommune(since, until)).items()}
        share = total / len(members)
        for code in wanted:
            factor = pick.uniform(1.1, 1.3) if pick.random() < 0.15 else pick.uniform(0.8, 0.92)
            base = worked.get(code) or share
            plans.append(rota.PledgePlan(code, first, last, max(1, round(base * factor))))
    return plans


async def seed_demo_rota(
    now: dt.datetime | None = None, *, weeks_back: int = WEEKS_BACK, seed: int = 1
) -> dict[str, int]:
    """Plan, fill and pledge the demo's weeks that are not planned yet (see the module docstring); returns what was
    written, or an empty dict when every week already was."""
    moment = now or dt.datetime.now(dt.UTC)
    this_monday = rota.monday_of(moment.astimezone(CPH).date())
    mondays = [this_monday + dt.timedelta(weeks=k) for k in range(-weeks_back, 2)]
    existing = await repository.shifts_between(
        local_midnight(mondays[0]), local_midnight(mondays[-1] + dt.timedelta(weeks=1))
    )
    seeded = {
        rota.monday_of(repository.aware(row["starts_at"]).astimezone(CPH).date())
        for row in existing
        if row["created_by"] == PLANNER
    }
    mondays = [monday for monday in mondays if monday not in seeded]
    if not mondays:
        return {}
    members = sorted(t.code for t in await tenancy.load_tenants() if t.definition.member)
    if not members:
        return {}
    templates = await _templates(this_monday, await settings.load())
    weeks = {monday: _plan_week(monday, _kind(monday, this_monday), templates, seed) for monday in mondays}
    every = [shift for week in weeks.values() for shift in week]
    if not every:
        return {}
    for monday, week in weeks.items():
        plans = [rota.ShiftPlan(*shift.span, shift.wanted) for shift in week]
        await rota.create_shifts(plans, by=PLANNER, now=_planned_at(monday, moment))
    created = await repository.shifts_between(
        local_midnight(min(weeks)), local_midnight(max(weeks) + dt.timedelta(weeks=1))
    )
    ids = {
        (repository.aware(row["starts_at"]).astimezone(CPH), repository.aware(row["ends_at"]).astimezone(CPH)): row[
            "id"
        ]
        for row in created
        if row["created_by"] == PLANNER
    }
    agents = demo_agents(members)
    signups = 0
    hours: dict[str | int, int] = defaultdict(int)
    for monday, week in sorted(weeks.items()):
        pick = random.Random(f"signups-{seed}-{monday.isoformat()}")  # noqa: S311 - demo data
        chosen = _assign(week, ids, agents, hours, pick)
        signups += await rota.sign_up_many(chosen, now=_planned_at(monday, moment) + dt.timedelta(days=2))
    first_month = _month_of(min(weeks))[0]
    taken = {
        (row["kommune_code"], row["period_start"])
        for row in await repository.pledges_overlapping(first_month, _month_of(max(weeks) + dt.timedelta(days=6))[1])
        if row["created_by"] == PLANNER
    }
    pick = random.Random(f"pledges-{seed}-{first_month.isoformat()}")  # noqa: S311 - demo data
    pledges = await _pledges(every, members, taken, moment.astimezone(CPH).date(), pick)
    await rota.save_pledges(pledges, by=PLANNER, now=min(_planned_at(min(weeks), moment), moment))
    return {"weeks": len(weeks), "shifts": len(every), "signups": signups, "pledges": len(pledges)}


def _planned_at(monday: dt.date, now: dt.datetime) -> dt.datetime:
    """When the coordinator planned the week: two weeks ahead, on a Monday morning (never later than now)."""
    return min(rota.wall(monday - dt.timedelta(weeks=2), dt.time(10)), now - dt.timedelta(days=3))
