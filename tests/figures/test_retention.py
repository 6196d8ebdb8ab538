"""The retention sweeps of calls, hand-offs and letters anonymise old records instead of deleting them, so the
figures of an old period (calls, callbacks, replies within 2 working days, hand-offs) are the same before and
after them, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from piccolo.columns import Column
from piccolo.table import Table

from hotline.calls import service as calls
from hotline.calls.tables import Call, Callback
from hotline.figures import service
from hotline.figures.service import Period
from hotline.handoffs import service as handoffs
from hotline.handoffs.tables import HandOff
from hotline.letters import service as letters
from hotline.letters.tables import Letter
from tests.figures.history_fixture import NOW, insert_fixed_history
from tests.figures.test_service import AUTUMN, OCTOBER
from tests.fixtures.databases import Database

NUMBER = "+4520123456"


@pytest.fixture
async def personal_history(kommuner: Database) -> Database:
    """The hand-computed history of test_service.py, with the personal data real records carry. Aarhus (0751)
    keeps it 30 days (tenants/0751-aarhus), so at NOW (5 January 2027) October's is past retention and the letters
    of 23 December are not."""
    await insert_fixed_history()
    await Call.update({Call.caller_number: NUMBER, Call.notes: "Jens Hansen, Vestergade 12"}, force=True).run()
    await Callback.update({Callback.number: NUMBER}, force=True).run()
    await Letter.update({Letter.recipient: "jens@example.org", Letter.body: "Kære Jens Hansen"}, force=True).run()
    await HandOff.update(
        {HandOff.citizen_email: "jens@example.org", HandOff.description: "Jens Hansen, Vestergade 12"}, force=True
    ).run()
    return kommuner


async def row(table: type[Table], column: Column, value: str) -> dict[str, Any]:
    found: dict[str, Any] | None = await table.select().where(column == value).first().run()
    assert found is not None
    return found


async def sweep_everything() -> None:
    while (await calls.retention_sweep(NOW)).more:
        pass
    await handoffs.retention_sweep(NOW)
    await letters.retention_sweep(NOW)


async def test_the_figures_of_an_old_period_are_the_same_after_the_retention_sweeps(
    personal_history: Database,
) -> None:
    periods = (AUTUMN, OCTOBER, Period(dt.date(2026, 12, 1), dt.date(2027, 1, 1)))
    before = [await service.compute(period, kommune="0751", now=NOW) for period in periods]
    federation = await service.compute(AUTUMN, kommune=None, now=NOW, by_kommune=True)
    assert (before[0].total.letters, before[0].total.letters_in_time, before[0].total.offered) == (4, 2, 17)

    await sweep_everything()

    # Every figure of every period, the replies within 2 working days and the call counts among them, is
    # unchanged: the rows are still there to be counted.
    after = [await service.compute(period, kommune="0751", now=NOW) for period in periods]
    assert [report.total.values() for report in after] == [report.total.values() for report in before]
    assert after == before
    assert await service.compute(AUTUMN, kommune=None, now=NOW, by_kommune=True) == federation

    # The sweeps did their work all the same: October's records hold nothing personal any more, December's
    # letters (13 days old) still do.
    l1, c1 = await row(Letter, Letter.letter_id, "l1"), await row(Call, Call.call_id, "c1")
    h1, c9 = await row(HandOff, HandOff.handoff_id, "h1"), await row(Callback, Callback.call_id, "c9")
    assert (l1["recipient"], l1["body"], c1["caller_number"], c1["notes"]) == ("", "", "", "")
    assert (h1["citizen_email"], h1["description"], c9["number"]) == ("", "", "")
    l2 = await row(Letter, Letter.letter_id, "l2")
    assert l2["recipient"] == "jens@example.org"
