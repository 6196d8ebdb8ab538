"""Due time: the owning department's next opening on its own calendar (Copenhagen wall time, closures, public
holidays, DST), or the end of its opening when it is open now. Aarhus (0751) in the demo: "storskrald" belongs to
Affald og Genbrug on the kommune's hours (Mon-Wed 09-14, Thu 09-12 and 13-17, Fri 09-14, Sat 10-13);
"hjemmehjaelp" to Sundhed og Omsorg with its own hours (Mon-Thu 09-15, Fri 09-12, closed at weekends)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from hotline.handoffs.service import create_handoff
from hotline.handoffs.tables import HandOff
from tests.fixtures.databases import Database

CPH = ZoneInfo("Europe/Copenhagen")
UTC = dt.UTC


def cph(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=CPH)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("topic", "now", "due"),
    [
        # A Wednesday evening: the next morning.
        ("storskrald", cph(2026, 11, 25, 19, 30), cph(2026, 11, 26, 9, 0)),
        # Thursday at lunch (closed 12-13 on the kommune's hours): after lunch the same day.
        ("storskrald", cph(2026, 11, 26, 12, 15), cph(2026, 11, 26, 13, 0)),
        # A Friday evening: the kommune opens Saturday, Sundhed og Omsorg not before Monday.
        ("storskrald", cph(2026, 11, 27, 19, 0), cph(2026, 11, 28, 10, 0)),
        ("hjemmehjaelp", cph(2026, 11, 27, 19, 0), cph(2026, 11, 30, 9, 0)),
        ("hjemmehjaelp", cph(2026, 11, 29, 12, 0), cph(2026, 11, 30, 9, 0)),  # Sunday
        # Christmas: 24-26 Dec closed, Aarhus closes 28-30 Dec, 31 Dec and 1 Jan closed.
        ("storskrald", cph(2026, 12, 23, 19, 0), cph(2027, 1, 2, 10, 0)),
        ("storskrald", cph(2026, 12, 24, 11, 0), cph(2027, 1, 2, 10, 0)),
        ("hjemmehjaelp", cph(2026, 12, 24, 11, 0), cph(2027, 1, 4, 9, 0)),
        # Summer time starts on Easter Sunday, 28 March 2027; Easter Monday is a holiday: Tuesday 09:00 is
        # 07:00 UTC, not 08:00.
        ("hjemmehjaelp", cph(2027, 3, 27, 19, 0), dt.datetime(2027, 3, 30, 7, 0, tzinfo=UTC)),
        # Summer time ends Sunday 25 October 2026: Monday 09:00 is 08:00 UTC.
        ("hjemmehjaelp", cph(2026, 10, 24, 19, 0), dt.datetime(2026, 10, 26, 8, 0, tzinfo=UTC)),
        # Open now with time to act: the end of this opening.
        ("storskrald", cph(2026, 11, 25, 10, 0), cph(2026, 11, 25, 14, 0)),
        # Open now but closing within the grace (2 h): the end of the next opening.
        ("storskrald", cph(2026, 11, 25, 12, 30), cph(2026, 11, 26, 12, 0)),
    ],
)
async def test_due_at_is_the_departments_next_opening(
    demo_federation: Database, topic: str, now: dt.datetime, due: dt.datetime
) -> None:
    handoff = await create_handoff(
        call_id="c", kommune_code="0751", topic=topic, description="Ring tilbage", created_by="agent|1", now=now
    )
    assert handoff.due_at == due
    assert handoff.due_at.utcoffset() is not None
    row = await HandOff.select(HandOff.due_at).first().run()
    assert row is not None
    stored = row["due_at"] if row["due_at"].tzinfo else row["due_at"].replace(tzinfo=UTC)
    assert stored == due
