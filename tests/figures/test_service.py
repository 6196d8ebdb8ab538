"""The figures of a small fixed history, against expectations computed by hand (see history_fixture.py), on
SQLite and PostgreSQL: counts, waits, service levels, first-contact resolution, callbacks, replies within two
working days over Christmas, hand-offs within a week, survey figures, period edges in Copenhagen time, the DST
night in the heatmap."""

from __future__ import annotations

import datetime as dt

import pytest

from hotline.figures import repository, service
from hotline.figures.service import Period, PeriodError, Thresholds
from hotline.letters import service as letters
from hotline.letters.tables import Letter
from tests.figures.history_fixture import NOW, T, insert_fixed_history
from tests.fixtures.databases import Database

AUTUMN = Period(dt.date(2026, 10, 1), dt.date(2027, 1, 1))
OCTOBER = Period(dt.date(2026, 10, 1), dt.date(2026, 11, 1))


@pytest.fixture
async def history(db: Database) -> Database:
    await insert_fixed_history()
    return db


async def test_the_kommune_figures_match_the_hand_computed_ones(history: Database) -> None:
    report = await service.compute(AUTUMN, kommune="0751", now=NOW)
    values = report.total.values()
    # c1–c11, c13–c15, c17–c19: 17 calls of Aarhus citizens (c16 is 30 September local time).
    assert values["offered"] == 17
    assert values["answered"] == 11
    assert values["abandoned"] == 4
    assert values["short_abandoned"] == 2  # 3 s and 2 s; 5 s is not short
    assert values["abandon_rate"] == 13.3  # 2 long / (17 - 2)
    assert values["asa"] == 30.9  # 340 s / 11
    assert values["sl1"] == 53.8  # 7 within 30 s / (11 answered + 2 long abandons)
    assert values["sl2"] == 76.9  # 10 / 13
    assert values["fcr"] == 70.0  # 7 solved / 10 answered with an outcome
    assert (values["transfers"], values["misrouted"], values["non_member"]) == (1, 1, 0)
    assert (values["callbacks"], values["callback_sl"]) == (2, 50.0)
    assert (values["letters"], values["letters_sl"]) == (4, 50.0)  # l1 and l2 in time; l3 late, l4 never sent
    assert (values["handoffs"], values["handoff_week"], values["handoffs_overdue"]) == (5, 20.0, 1)
    assert values["surveys"] == 4
    assert values["csat"] == 50.0
    assert values["good_treatment"] == 75.0
    assert values["nps"] == 33.3  # (2 promoters - 1 detractor) / 3 scores


async def test_other_thresholds_change_the_service_level_and_short_abandons(history: Database) -> None:
    report = await service.compute(
        AUTUMN, kommune="0751", now=NOW, thresholds=Thresholds(short_abandon=6, first=20, second=50)
    )
    values = report.total.values()
    assert values["short_abandoned"] == 3  # 5 s is now short too
    # within 20 s: 10, 20, 20, 5, 10 = 5; within 50 s: + 25, 30, 45, 50, 35 = 10; base 11 + 1 long abandon.
    assert (values["sl1"], values["sl2"]) == (41.7, 83.3)


async def test_the_federation_adds_every_kommune_and_counts_non_members(history: Database) -> None:
    report = await service.compute(AUTUMN, kommune=None, now=NOW, by_kommune=True)
    assert report.total.offered == 19
    assert report.total.non_member == 1
    assert set(report.by_kommune) == {"0751", "0147", "0615"}
    assert report.by_kommune["0615"].values()["asa"] == 40.0


async def test_periods_are_copenhagen_days(history: Database) -> None:
    october = await service.compute(OCTOBER, kommune="0751", now=NOW)
    # c1–c11, c13, c14, c15: the call at 00:30 on 1 November (23:30 UTC on 31 October) belongs to November.
    assert october.total.offered == 14
    november = await service.compute(Period(dt.date(2026, 11, 1), dt.date(2026, 11, 2)), kommune="0751", now=NOW)
    assert november.total.offered == 1
    first_day = next(d for d in october.days if d.day == dt.date(2026, 10, 1))
    assert (first_day.offered, first_day.answered) == (1, 1)


async def test_the_heatmap_folds_the_dst_night_into_local_hours(history: Database) -> None:
    heatmap = (await service.compute(OCTOBER, kommune="0751", now=NOW)).heatmap
    assert heatmap is not None
    # Both 02:30 calls of 25 October (CEST and CET) are Sunday 02:00–03:00.
    assert heatmap.offered[6][2] == 2
    assert heatmap.average_wait(6, 2) == 35.0
    # Tuesday 19:00 CEST: c1–c11, of which c1–c5 and c11 answered (waits 10, 25, 30, 45, 90, 20).
    assert heatmap.offered[1][19] == 11
    assert heatmap.answered[1][19] == 6
    assert heatmap.average_wait(1, 19) == 36.7
    assert heatmap.offered[3][0] == 1  # Thursday 1 October 00:30
    assert sum(map(sum, heatmap.offered)) == 14


async def test_topics_carry_calls_and_satisfaction(history: Database) -> None:
    topics = (await service.compute(AUTUMN, kommune="0751", now=NOW)).by_topic
    assert topics["pas"].offered == 3
    assert topics["pas"].values()["csat"] == 66.7
    assert topics["storskrald"].values()["csat"] == 0.0
    assert topics["flytning"].values()["fcr"] == 0.0  # answered "not municipal"
    assert topics["pas"].values()["fcr"] == 100.0  # c1, c2 solved; c4 had no outcome


def test_two_working_days_skip_christmas_and_weekends() -> None:
    cph = service.CPH
    wednesday = dt.datetime(2026, 12, 23, 10, 0, tzinfo=cph)
    assert service.working_day_deadline(wednesday, 2) == dt.datetime(2026, 12, 30, 0, 0, tzinfo=cph)
    friday_evening = dt.datetime(2026, 10, 9, 20, 0, tzinfo=cph)
    assert service.working_day_deadline(friday_evening, 2) == dt.datetime(2026, 10, 14, 0, 0, tzinfo=cph)
    assert not service.is_working_day(dt.date(2026, 12, 24))
    assert service.is_working_day(dt.date(2026, 6, 5))  # Constitution Day closes at noon only


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("2026-10-10", "2026-10-01", "to"),
        ("2026-10-01", "2026-10-01", "to"),
        ("2020-01-01", "2026-01-01", "to"),
        ("2026-13-01", "2026-10-01", "from"),
        ("yesterday", "2026-10-01", "from"),
        ("2026-10-01", "soon", "to"),
    ],
)
def test_bad_periods_are_refused_naming_the_field(start: str, end: str, field: str) -> None:
    with pytest.raises(PeriodError) as caught:
        Period.parse(start, end)
    assert caught.value.field == field
    assert caught.value.message.startswith(field)


async def test_figures_can_be_computed_inside_a_callers_transaction(history: Database) -> None:
    # A caller's transaction has one connection: the queries then run one after the other, with the same result.
    outside = (await service.compute(AUTUMN, kommune="0751", now=NOW)).total
    async with repository.transaction():
        inside = (await service.compute(AUTUMN, kommune="0751", now=NOW)).total
    assert inside == outside


async def test_notices_to_staff_in_the_letters_outbox_are_not_counted_as_letters(history: Database) -> None:
    """Escalation notices share the letters' outbox; none of them is a reply (letters, letters_sl)."""
    aarhus_before = (await service.compute(AUTUMN, kommune="0751", now=NOW)).total.values()
    federation_before = await service.compute(AUTUMN, kommune=None, now=NOW, by_kommune=True)
    fast, slow = dt.timedelta(minutes=5), dt.timedelta(days=6, hours=5)  # slow: still within 2 working days
    december = dt.datetime(2026, 12, 23, 9, 0, tzinfo=dt.UTC)
    for kommune, created, took in (
        ("0751", T, fast),
        ("0751", december, slow),
        ("", december, slow),
        ("0147", T, fast),
    ):
        notice = letters.Notice(
            kind="handoff_overdue",
            kommune_code=kommune,
            recipient="afdeling@example.invalid",
            from_name="Aftenhotlinen",
            from_address="koordinator@example.invalid",
            reply_to="koordinator@example.invalid",
            subject="Overskredet",
            text="Overskredet",
            html="<p>Overskredet</p>",
        )
        prepared = letters.prepare_notice(notice, now=created, created_by="test")
        await letters.enqueue(prepared)
        await (
            Letter.update({Letter.status: "sent", Letter.sent_at: created + took})
            .where(Letter.letter_id == prepared.letter_id)
            .run()
        )
    aarhus = (await service.compute(AUTUMN, kommune="0751", now=NOW)).total.values()
    federation = await service.compute(AUTUMN, kommune=None, now=NOW, by_kommune=True)
    assert (aarhus["letters"], aarhus["letters_sl"]) == (4, 50.0)
    assert aarhus == aarhus_before
    assert federation.total.values() == federation_before.total.values()
    assert {code: f.values() for code, f in federation.by_kommune.items()} == {
        code: f.values() for code, f in federation_before.by_kommune.items()
    }
