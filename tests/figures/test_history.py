"""The synthetic history: calls only in the hotline's hours (Copenhagen time), shared by population, with
callbacks, hand-offs, letters, survey answers and agents' presence; the row counts it reports are the rows written;
the demo's seeding runs once."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from hotline.calls.tables import Call, Callback, PresenceSpan
from hotline.figures import service
from hotline.figures.history import WEEKDAY_HOURS, WEEKEND_HOURS, generate_history, seed_demo_history
from hotline.figures.tables import SurveyAnswer
from hotline.handoffs.tables import HandOff
from hotline.letters.tables import Letter
from tests.fixtures.databases import Database

START, END = dt.date(2026, 12, 21), dt.date(2027, 1, 4)  # two weeks over Christmas


async def test_history_fits_the_hotline_hours_and_the_population(demo_federation: Database) -> None:
    counts = await generate_history(start=START, end=END, seed=3, scale=1.0)
    # ~150,000 a year at scale 1: two weeks hold roughly 5,800.
    assert 4500 < counts["calls"] < 7000
    assert counts["calls"] == await Call.count().run()
    assert counts["callbacks"] == await Callback.count().run()
    assert counts["presence_spans"] == await PresenceSpan.count().run()
    assert counts["handoffs"] == await HandOff.count().run()
    assert counts["letters"] == await Letter.count().run()
    assert counts["survey_answers"] == await SurveyAnswer.count().run()
    rows = await Call.select(Call.offered_at, Call.kommune_code, Call.mode, Call.caller_number).run()
    for row in rows:
        local = row["offered_at"].astimezone(service.CPH)
        hours = WEEKDAY_HOURS if service.is_working_day(local.date()) else WEEKEND_HOURS
        assert local.hour in hours, local
        assert row["caller_number"] == ""
    by_kommune = Counter(row["kommune_code"] for row in rows if row["mode"] == "member")
    assert by_kommune["0751"] > 5 * by_kommune["0727"]  # Aarhus (360,000) against Odder (~23,000)
    christmas_eve = [r for r in rows if r["offered_at"].astimezone(service.CPH).date() == dt.date(2026, 12, 24)]
    assert all(r["offered_at"].astimezone(service.CPH).hour in WEEKEND_HOURS for r in christmas_eve)
    report = await service.compute(service.Period(START, END), kommune=None, now=dt.datetime(2027, 1, 5, tzinfo=dt.UTC))
    values = report.total.values()
    assert values["offered"] == counts["calls"]
    assert all(0 < (values[key] or 0) < 100 for key in ("sl1", "fcr", "csat", "letters_sl", "handoff_week"))


async def test_the_demo_seeds_its_history_once(demo_federation: Database) -> None:
    now = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
    first = await seed_demo_history(now, weeks=1)
    assert first["calls"] > 0
    assert await seed_demo_history(now, weeks=1) == {}
    assert await Call.count().run() == first["calls"]
