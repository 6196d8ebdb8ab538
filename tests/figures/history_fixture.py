"""A small hand-written history (20 calls, callbacks, letters, hand-offs, survey answers) whose figures are
computed by hand in the tests. Times are UTC; the comments give Copenhagen local time where it matters."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hotline.calls.tables import Call, Callback
from hotline.figures.tables import SurveyAnswer
from hotline.handoffs.tables import HandOff
from hotline.letters.tables import Letter

UTC = dt.UTC
T = dt.datetime(2026, 10, 6, 17, 0, tzinfo=UTC)  # Tuesday 19:00 CEST
S = dt.timedelta(seconds=1)
# "now" for overdue hand-offs.
NOW = dt.datetime(2027, 1, 5, 12, 0, tzinfo=UTC)


def _call(call_id: str, offered: dt.datetime, **values: Any) -> Call:
    values.setdefault("kommune_code", "0751")
    values.setdefault("status", "done")
    return Call(call_id=call_id, offered_at=offered, **values)


def _answered(call_id: str, offered: dt.datetime, wait: float, outcome: str, **values: Any) -> Call:
    answered = offered + wait * S
    return _call(
        call_id, offered, answered_at=answered, ended_at=answered + 120 * S, outcome=outcome, agent_id=7, **values
    )


def _abandoned(call_id: str, offered: dt.datetime, after: float) -> Call:
    return _call(call_id, offered, status="abandoned", abandoned_at=offered + after * S, ended_at=offered + after * S)


async def insert_fixed_history() -> None:
    calls = [
        _answered("c1", T, 10, "solved", topic="pas"),
        _answered("c2", T + 60 * S, 25, "solved", topic="pas"),
        _answered("c3", T + 120 * S, 30, "handed_off", topic="storskrald"),  # exactly 30 s counts as within 30 s
        _answered("c4", T + 180 * S, 45, "", topic="pas"),  # no outcome recorded: not in first-contact resolution
        _answered("c5", T + 240 * S, 90, "not_municipal", topic="flytning", transferred_at=T + 400 * S),
        _abandoned("c6", T + 300 * S, 3),  # short abandon
        _abandoned("c7", T + 360 * S, 5),  # exactly 5 s is not short
        _abandoned("c8", T + 420 * S, 40),
        _call("c9", T + 480 * S, status="callback", callback_requested_at=T + 540 * S),
        _call("c10", T + 600 * S, status="callback", callback_requested_at=T + 660 * S),
        _answered("c11", T + 720 * S, 20, "misrouted", misrouted=True),
        _answered("c12", T + 780 * S, 15, "solved", kommune_code="0147", mode="non_member"),
        # The night of the DST change: 02:30 CEST, then 02:30 CET an hour later (both Sunday, hour 2).
        _answered("c13", dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC), 20, "solved"),
        _answered("c14", dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC), 50, "solved"),
        # Period edges: 1 October 00:30 CEST (in October), 30 September 23:30 CEST (not), 1 November 00:30 CET.
        _answered("c15", dt.datetime(2026, 9, 30, 22, 30, tzinfo=UTC), 5, "solved"),
        _answered("c16", dt.datetime(2026, 9, 30, 21, 30, tzinfo=UTC), 5, "solved"),
        _answered("c17", dt.datetime(2026, 10, 31, 23, 30, tzinfo=UTC), 10, "solved"),
        # Christmas Eve evening (19:00 CET, a closed day for the kommune, open for the hotline).
        _answered("c18", dt.datetime(2026, 12, 24, 18, 0, tzinfo=UTC), 35, "solved"),
        _abandoned("c19", dt.datetime(2026, 12, 24, 18, 10, tzinfo=UTC), 2),
        _answered("c20", T + 900 * S, 40, "solved", kommune_code="0615"),
    ]
    await Call.insert(*calls).run()
    await Callback.insert(
        Callback(
            call_id="c9", kommune_code="0751", number="", requested_at=T + 540 * S, status="done",
            done_at=T + 540 * S + dt.timedelta(hours=1),
        ),
        Callback(
            call_id="c10", kommune_code="0751", number="", requested_at=T + 660 * S, status="done",
            done_at=T + 660 * S + dt.timedelta(hours=3),
        ),
    ).run()  # fmt: skip

    def letter(letter_id: str, created: dt.datetime, sent: dt.datetime | None) -> Letter:
        return Letter(
            letter_id=letter_id, kommune_code="0751", subject="Svar", recipient="borger@example.invalid",
            sender_name="Aarhus Kommune", sender_address="a@example.invalid", reply_to="a@example.invalid",
            body="", created_at=created, message_id=f"<{letter_id}@example.invalid>", next_attempt_at=created,
            status="sent" if sent else "failed", sent_at=sent,
        )  # fmt: skip

    await Letter.insert(
        letter("l1", T + 600 * S, T + 900 * S),
        # Wednesday 23 December: 24, 25 December and the weekend are not working days, so the deadline is the
        # end of Tuesday 29 December (23:00 UTC).
        letter("l2", dt.datetime(2026, 12, 23, 9, 0, tzinfo=UTC), dt.datetime(2026, 12, 29, 14, 0, tzinfo=UTC)),
        letter("l3", dt.datetime(2026, 12, 23, 9, 30, tzinfo=UTC), dt.datetime(2026, 12, 30, 8, 0, tzinfo=UTC)),
        letter("l4", dt.datetime(2026, 10, 7, 10, 0, tzinfo=UTC), None),
    ).run()

    def handoff(
        handoff_id: str,
        created: dt.datetime,
        due: dt.datetime,
        closed: dt.datetime | None = None,
        informed: dt.datetime | None = None,
    ) -> HandOff:
        return HandOff(
            handoff_id=handoff_id, kommune_code="0751", created_at=created, due_at=due,
            status="closed" if closed else "open", closed_at=closed, citizen_informed_at=informed,
        )  # fmt: skip

    day = dt.timedelta(days=1)
    await HandOff.insert(
        handoff("h1", T + 300 * S, T + 14 * 3600 * S, T + 2 * day, T + 2 * day + 300 * S),
        handoff("h2", T + 360 * S, T + 14 * 3600 * S, T + 3 * day, None),
        handoff("h3", T + 420 * S, T + 14 * 3600 * S, T + 14 * day, T + 14 * day),
        handoff("h4", dt.datetime(2026, 12, 24, 18, 30, tzinfo=UTC), dt.datetime(2026, 12, 28, 8, 0, tzinfo=UTC)),
        handoff("h5", dt.datetime(2026, 12, 30, 10, 0, tzinfo=UTC), dt.datetime(2027, 1, 10, 8, 0, tzinfo=UTC)),
    ).run()
    await SurveyAnswer.insert(
        SurveyAnswer(kommune_code="0751", topic="pas", contact_date=dt.date(2026, 10, 6), satisfaction=5,
                     treated_well=True, nps=10),
        SurveyAnswer(kommune_code="0751", topic="pas", contact_date=dt.date(2026, 10, 6), satisfaction=4,
                     treated_well=True, nps=6),
        SurveyAnswer(kommune_code="0751", topic="storskrald", contact_date=dt.date(2026, 10, 7), satisfaction=2,
                     treated_well=False, nps=None),
        SurveyAnswer(kommune_code="0751", topic="pas", contact_date=dt.date(2026, 12, 24), satisfaction=3,
                     treated_well=True, nps=9),
    ).run()  # fmt: skip
