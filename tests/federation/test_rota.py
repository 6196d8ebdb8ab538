"""The rota: planning and its refusals (nothing partial stored), sign-ups without double-booking, pledges, and a
fixed plan held against the forecast (gaps) and against the hours worked."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from hotline.calls.tables import Call
from hotline.federation import rota
from hotline.federation.forecast import agents_for
from hotline.federation.schemas import FederationError
from hotline.federation.tables import Pledge, Shift, ShiftSignup
from tests.federation.history import CPH, END, START, write_week
from tests.federation.test_forecast import textbook_service_level
from tests.fixtures.databases import Database

NOW = dt.datetime(2027, 1, 1, 12, 0, tzinfo=CPH)
THURSDAY = dt.date(2027, 1, 7)


def refused(field: str) -> Any:
    return pytest.raises(FederationError, match=f"^{field}: ")


def test_a_shift_is_checked_field_by_field() -> None:
    plan = rota.plan_shift("2027-01-07", "16:00", "20:00", "2", NOW)
    assert plan.starts_at == dt.datetime(2027, 1, 7, 16, tzinfo=CPH)
    assert plan.ends_at == dt.datetime(2027, 1, 7, 20, tzinfo=CPH)
    late = rota.plan_shift("2027-01-07", "22:00", "02:00", "1", NOW)  # past midnight: ends the next day
    assert late.ends_at == dt.datetime(2027, 1, 8, 2, tzinfo=CPH)
    with refused("date"):
        rota.plan_shift("2026-12-31", "16:00", "20:00", "2", NOW)  # in the past
    with refused("date"):
        rota.plan_shift("7/1/2027", "16:00", "20:00", "2", NOW)
    with refused("start"):
        rota.plan_shift("2027-01-07", "25:00", "20:00", "2", NOW)
    with refused("end"):
        rota.plan_shift("2027-01-07", "16:00", "16:00", "2", NOW)  # would be 24 hours
    with refused("agents_wanted"):
        rota.plan_shift("2027-01-07", "16:00", "20:00", "-2", NOW)
    with refused("agents_wanted"):
        rota.plan_shift("2027-01-07", "16:00", "20:00", "0", NOW)


async def test_bulk_planning_is_all_or_nothing(db: Database) -> None:
    weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday"]
    plans = rota.plan_bulk("2027-01-04", "2027-01-17", weekdays, "16:00", "20:00", "3", NOW)
    assert len(plans) == 10
    assert all(p.starts_at.hour == 16 and p.agents_wanted == 3 for p in plans)
    async with Shift._meta.db.transaction():
        await rota.create_shifts(plans, by="test", now=NOW)
    assert await Shift.count().run() == 10
    with refused("from"):  # the range starts in the past: not one shift is planned
        rota.plan_bulk("2026-12-28", "2027-01-10", weekdays, "16:00", "20:00", "3", NOW)
    with refused("to"):
        rota.plan_bulk("2027-01-10", "2027-01-04", weekdays, "16:00", "20:00", "3", NOW)
    with refused("weekdays"):
        rota.plan_bulk("2027-01-04", "2027-01-10", [], "16:00", "20:00", "3", NOW)
    with refused("weekdays"):
        rota.plan_bulk("2027-01-09", "2027-01-10", ["monday"], "16:00", "20:00", "3", NOW)
    assert await Shift.count().run() == 10


async def _shift(start: str, end: str, wanted: int = 2) -> int:
    plan = rota.plan_shift("2027-01-07", start, end, str(wanted), NOW)
    return (await rota.create_shifts([plan], by="test", now=NOW))[0]


async def test_agents_sign_up_without_double_booking_and_withdraw_before_the_start(db: Database) -> None:
    early, overlapping, later = (
        await _shift("16:00", "20:00"),
        await _shift("19:00", "22:00"),
        await _shift("20:00", "23:00", 1),
    )
    await rota.sign_up(early, user_id=7, home_kommune="0727", name="Agent", now=NOW)
    with refused("shift"):
        await rota.sign_up(early, user_id=7, home_kommune="0727", name="Agent", now=NOW)  # twice
    with pytest.raises(FederationError, match="overlaps your shift from 2027-01-07 16:00"):
        await rota.sign_up(overlapping, user_id=7, home_kommune="0727", name="Agent", now=NOW)
    await rota.sign_up(later, user_id=7, home_kommune="0727", name="Agent", now=NOW)  # 20:00 start touches, no overlap
    with pytest.raises(FederationError, match="full"):
        await rota.sign_up(later, user_id=8, home_kommune="0751", name="Other", now=NOW)
    assert await ShiftSignup.count().run() == 2
    await rota.withdraw(later, user_id=7, now=NOW)
    with refused("shift"):
        await rota.withdraw(later, user_id=7, now=NOW)  # no longer signed up
    started = dt.datetime(2027, 1, 7, 16, 30, tzinfo=CPH)
    with pytest.raises(FederationError, match="has started"):
        await rota.withdraw(early, user_id=7, now=started)
    with pytest.raises(FederationError, match="already started"):
        await rota.sign_up(
            overlapping, user_id=9, home_kommune="0615", name="Late", now=dt.datetime(2027, 1, 7, 19, 5, tzinfo=CPH)
        )
    with pytest.raises(FederationError) as missing:
        await rota.sign_up(999_999, user_id=7, home_kommune="0727", name="Agent", now=NOW)
    assert missing.value.not_found
    # The coordinator deletes a shift (with its sign-ups) before it starts, never after.
    with refused("shift"):
        await rota.delete_shift(early, now=started)
    await rota.delete_shift(early, now=NOW)
    assert await Shift.count().run() == 2
    assert await ShiftSignup.count().run() == 0


async def test_pledges_are_checked_and_held_against_signed_and_worked_hours(kommuner: Database) -> None:
    with refused("kommune_code") as error:
        await rota.plan_pledge("0751", "2026-11-02", "2026-11-08", "10", may={"0615"})
    assert error.value.forbidden
    with refused("hours"):
        await rota.plan_pledge("0615", "2026-11-02", "2026-11-08", "-5", may={"0615"})
    with refused("period_end"):
        await rota.plan_pledge("0615", "2026-11-08", "2026-11-02", "10", may={"0615"})
    with refused("kommune_code"):
        await rota.plan_pledge("0101", "2026-11-02", "2026-11-08", "10", may=None)  # not loaded / not a member
    assert await Pledge.count().run() == 0
    for code, hours in (("0751", 2), ("0615", 10)):
        plan = await rota.plan_pledge(code, START.isoformat(), END.isoformat(), str(hours), may=None)
        await rota.save_pledge(plan, by="test", now=NOW)
    await write_week()
    # Horsens' agent signed up to a 3-hour shift in the week.
    shift_ids = (
        await Shift.insert(
            Shift(starts_at=dt.datetime(2026, 11, 4, 17, tzinfo=CPH), ends_at=dt.datetime(2026, 11, 4, 20, tzinfo=CPH))
        )
        .returning(Shift._meta.primary_key)
        .run()
    )
    await ShiftSignup.insert(ShiftSignup(shift=shift_ids[0]["id"], user_id=2, home_kommune="0615")).run()
    status = {p.kommune_code: p for p in await rota.pledge_status(START, END)}
    # Aarhus: pledged 2 h, signed 0 h, worked 2.5 h (available 2 h + on a call 0.5 h; the pause does not count).
    assert status["0751"].hours == 2
    assert status["0751"].signed_hours == 0
    assert status["0751"].worked_hours == 2.5
    assert status["0751"].signed_short
    assert not status["0751"].worked_short
    # Horsens: pledged 10 h, signed 3 h, worked 4 h: short on both.
    assert (status["0615"].signed_hours, status["0615"].worked_hours) == (3.0, 4.0)
    assert status["0615"].signed_short
    assert status["0615"].worked_short


async def test_a_fixed_plan_is_held_against_the_forecast(db: Database) -> None:
    # Six comparable Thursdays (24 and 31 Dec are closing days) each with 30 calls of 300 s between 17 and 18.
    calls = []
    for weeks in range(1, 9):
        day = THURSDAY - dt.timedelta(weeks=weeks)
        for i in range(30):
            offered = dt.datetime.combine(day, dt.time(17, i), tzinfo=CPH)
            answered = offered + dt.timedelta(seconds=10)
            calls.append(
                Call(call_id=f"r{weeks}-{i}", kommune_code="0751", status="done", offered_at=offered,
                     answered_at=answered, ended_at=answered + dt.timedelta(seconds=300))
            )  # fmt: skip
    await Call.insert(*calls).run()
    # 30 calls/h × 300 s = 2.5 Erlangs; by the factorial formula 5 agents answer 80 % within 30 s
    # (89.9 %) and 4 do not (72.5 %).
    assert textbook_service_level(4, 30, 300, 30) < 0.8 <= textbook_service_level(5, 30, 300, 30)
    assert agents_for(30, 300, target=0.8, threshold_seconds=30) == 5
    shift = await _shift("17:00", "19:00", wanted=2)
    await rota.sign_up(shift, user_id=1, home_kommune="0751", name="A", now=NOW)
    week = await rota.week(
        rota.monday_of(THURSDAY), user_id=1, now=NOW, target=0.8, threshold_seconds=30, shrinkage=0.0, max_occupancy=1.0
    )
    thursday = week.days[3]
    assert thursday.day == THURSDAY
    assert [s.id for s in thursday.shifts] == [shift]
    assert thursday.shifts[0].mine
    five, six = thursday.cells[17], thursday.cells[18]
    assert (five.needed, five.planned, five.signed) == (5, 2.0, 1.0)
    assert five.gap == 4.0
    assert five.planned_gap == 3.0
    assert (six.needed, six.signed, six.gap) == (0, 1.0, 0.0)
    assert week.gaps == 1
    assert week.hours == [17, 18]
    # The other Thursdays' weekdays have no calls and no shifts: nothing to flag.
    assert all(cell.gap == 0 for day in week.days if day.day != THURSDAY for cell in day.cells.values())
