"""The demo's rota: planned from the forecast over the demo's history, mostly covered with a few short shifts
this week, pledges per member kommune, written through the rota's rules (bulk sign-ups refuse what a single sign-up
refuses) and seeded once per week."""

from __future__ import annotations

import datetime as dt

import pytest

from hotline.federation import demo_rota, rota, settings
from hotline.federation.forecast import CPH
from hotline.federation.schemas import FederationError
from hotline.federation.tables import Pledge, Shift, ShiftSignup
from hotline.figures.history import seed_demo_history
from tests.fixtures.databases import Database

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=CPH)  # a Wednesday
SCALE = 0.3


async def _week(monday: dt.date, now: dt.datetime = NOW) -> rota.WeekView:
    config = await settings.load()
    return await rota.week(
        monday,
        user_id=0,
        now=now,
        target=config.target,
        threshold_seconds=config.threshold_seconds,
        shrinkage=config.shrinkage,
        max_occupancy=config.max_occupancy,
    )


def test_shifts_meet_the_needs_hour_by_hour_in_two_to_five_hours() -> None:
    needs = {15: 26, 16: 25, 17: 19, 18: 18, 19: 20, 20: 15, 21: 9}
    shifts = demo_rota.shifts_for_day(needs)
    assert all(2 <= end - start <= 5 for start, end, _ in shifts)
    assert all(start >= 15 and end <= 22 for start, end, _ in shifts)
    for hour, need in needs.items():
        planned = sum(agents for start, end, agents in shifts if start <= hour < end)
        assert need <= planned <= need + 2, (hour, planned)
    assert len({(start, end) for start, end, _ in shifts}) == len(shifts)  # equal stretches are one shift
    assert demo_rota.shifts_for_day(dict.fromkeys(range(24), 0)) == []


async def test_the_demo_rota_is_mostly_covered_with_a_few_gaps_and_seeded_once(demo_federation: Database) -> None:
    history = await seed_demo_history(NOW, weeks=8)
    assert history["calls"] > 0
    first = await demo_rota.seed_demo_rota(NOW)
    assert first["weeks"] == 10  # eight weeks back, this week and the next
    assert first["shifts"] == await Shift.count().run()
    assert first["signups"] == await ShiftSignup.count().run()
    assert first["pledges"] == await Pledge.count().run()

    this_week = await _week(rota.monday_of(NOW.date()))
    cells = [day.cells[hour] for day in this_week.days for hour in this_week.hours if hour in day.cells]
    needed = [cell for cell in cells if cell.needed > 0]
    covered = [cell for cell in needed if cell.gap == 0]
    gaps = [cell for cell in needed if cell.gap > 0]
    assert needed, "the forecast from the demo history needs agents this week"
    assert gaps, "a few short shifts show as gaps"
    assert len(covered) >= 3 * len(gaps), "mostly covered"
    assert all(cell.planned_gap == 0 for cell in needed), "the plan itself meets the forecast"
    # Weekday evenings and weekend days, as the history's hours.
    assert this_week.hours[0] <= 10
    assert this_week.hours[-1] >= 21
    # Past weeks were planned too, and (nearly) filled.
    past = await _week(rota.monday_of(NOW.date()) - dt.timedelta(weeks=3))
    assert any(day.shifts for day in past.days)
    assert past.gaps <= 3
    # Every member kommune pledged for the months of the plan, a few more than their agents signed up for.
    status = await rota.pledge_status(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    members = {p.kommune_code for p in status}
    assert len(members) >= 50
    assert 0 < sum(p.signed_short for p in status) < len(status) / 3
    assert any(p.signed_hours > 0 for p in status)

    # Twice: nothing more.
    shifts, signups, pledges = await Shift.count().run(), await ShiftSignup.count().run(), await Pledge.count().run()
    assert await demo_rota.seed_demo_rota(NOW) == {}
    assert (await Shift.count().run(), await ShiftSignup.count().run(), await Pledge.count().run()) == (
        shifts,
        signups,
        pledges,
    )
    # A week later only the new next week is planned (and December's pledges).
    later = await demo_rota.seed_demo_rota(NOW + dt.timedelta(weeks=1))
    assert later["weeks"] == 1
    assert await Shift.count().run() == shifts + later["shifts"]


async def test_the_same_data_gives_the_same_rota(demo_federation: Database) -> None:
    await seed_demo_history(NOW, weeks=8)
    await demo_rota.seed_demo_rota(NOW)
    first = await ShiftSignup.select(ShiftSignup.user_id, ShiftSignup.display_name).order_by(ShiftSignup.id).run()
    await ShiftSignup.delete(force=True).run()
    await Shift.delete(force=True).run()
    await Pledge.delete(force=True).run()
    await demo_rota.seed_demo_rota(NOW)
    again = await ShiftSignup.select(ShiftSignup.user_id, ShiftSignup.display_name).order_by(ShiftSignup.id).run()
    assert again == first


async def test_bulk_sign_ups_keep_the_rules_of_one_sign_up(db: Database) -> None:
    planned_at = dt.datetime(2027, 1, 1, 12, tzinfo=CPH)
    early, overlapping, small = await rota.create_shifts(
        [
            rota.ShiftPlan(*rota.shift_span(dt.date(2027, 1, 7), dt.time(16), dt.time(20)), 2),
            rota.ShiftPlan(*rota.shift_span(dt.date(2027, 1, 7), dt.time(19), dt.time(22)), 2),
            rota.ShiftPlan(*rota.shift_span(dt.date(2027, 1, 8), dt.time(16), dt.time(20)), 1),
        ],
        by="test",
        now=planned_at,
    )

    def plan(shift: int, user: int) -> rota.SignupPlan:
        return rota.SignupPlan(shift, user, "0727", f"Agent {user}")

    cases = [
        ([plan(early, 1), plan(overlapping, 1)], "overlaps"),  # overlapping within the batch
        ([plan(small, 1), plan(small, 2)], "full"),
        ([plan(early, 1), plan(early, 1)], "already signed up"),
        ([plan(early, 1), plan(999_999, 2)], "no shift"),
    ]
    for batch, refusal in cases:
        with pytest.raises(FederationError, match=refusal):
            async with Shift._meta.db.transaction():
                await rota.sign_up_many(batch, now=planned_at)
        assert await ShiftSignup.count().run() == 0, "all or nothing"
    with pytest.raises(FederationError, match="already started"):
        await rota.sign_up_many([plan(early, 1)], now=dt.datetime(2027, 1, 7, 16, 30, tzinfo=CPH))
    # Against what is already stored, too.
    await rota.sign_up(early, user_id=1, home_kommune="0727", name="Agent 1", now=planned_at)
    with pytest.raises(FederationError, match="overlaps"):
        await rota.sign_up_many([plan(overlapping, 1)], now=planned_at)
    assert await rota.sign_up_many([plan(early, 2), plan(overlapping, 3), plan(small, 1)], now=planned_at) == 3
    assert await ShiftSignup.count().run() == 4
