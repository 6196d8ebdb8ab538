"""A small fixed history for the settlement and rota tests: one week of November 2026 (UTC+1) in Aarhus (0751),
Horsens (0615) and Odder (0727), members with 360,000, 97,000 and 24,000 inhabitants, and a Copenhagen (0101,
not a member) agent and caller. The expected figures are worked out by hand in the tests that use it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hotline.calls.tables import Call, PresenceSpan

CPH = ZoneInfo("Europe/Copenhagen")
START, END = dt.date(2026, 11, 2), dt.date(2026, 11, 8)


def local(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=CPH)


def span(user: int, kommune: str, state: str, start: dt.datetime, end: dt.datetime) -> PresenceSpan:
    return PresenceSpan(user_id=user, home_kommune=kommune, state=state, started_at=start, ended_at=end)


def call(
    call_id: str,
    kommune: str,
    offered: dt.datetime,
    *,
    mode: str = "member",
    talk_minutes: int | None = None,
    wrap_minutes: int = 0,
) -> Call:
    """A call offered at ``offered``; answered 30 s later and talked ``talk_minutes`` (None: abandoned)."""
    if talk_minutes is None:
        return Call(
            call_id=call_id, kommune_code=kommune, mode=mode, status="abandoned", offered_at=offered,
            abandoned_at=offered + dt.timedelta(seconds=40),
        )  # fmt: skip
    answered = offered + dt.timedelta(seconds=30)
    ended = answered + dt.timedelta(minutes=talk_minutes)
    return Call(
        call_id=call_id,
        kommune_code=kommune,
        mode=mode,
        status="done",
        offered_at=offered,
        answered_at=answered,
        ended_at=ended,
        wrapped_up_at=ended + dt.timedelta(minutes=wrap_minutes) if wrap_minutes else None,
        agent_id=1,
        agent_kommune="0751",
    )


async def write_week() -> None:
    """Worked: Aarhus 2.5 h, Horsens 4 h (one span clipped at the period's start), Odder 0.5 h, Copenhagen 1 h
    (not a member). Answered member calls: Aarhus 3 (12 handled minutes), Horsens 1 (6 minutes with wrap-up);
    one answered non-member call (4 minutes); plus calls that must not count (abandoned, outside the period)."""
    await PresenceSpan.insert(
        # Aarhus, user 1: 17–19 available (2 h), 19–19:30 pause (not work), 19:30–20 on a call (0.5 h)
        span(1, "0751", "available", local(3, 17), local(3, 19)),
        span(1, "0751", "pause", local(3, 19), local(3, 19, 30)),
        span(1, "0751", "on_call", local(3, 19, 30), local(3, 20)),
        # Horsens, user 2: 17–20 available (3 h); 23:00 on 1 Nov – 01:00 on 2 Nov wrap-up: 1 h inside the period
        span(2, "0615", "available", local(4, 17), local(4, 20)),
        span(2, "0615", "wrap_up", local(1, 23), local(2, 1)),
        # Odder, user 3: 18–18:30 ringing (0.5 h); offline all evening (not work)
        span(3, "0727", "ringing", local(5, 18), local(5, 18, 30)),
        span(3, "0727", "offline", local(5, 18, 30), local(5, 23)),
        # Copenhagen (not a member), user 4: 1 h available, neither costed nor credited
        span(4, "0101", "available", local(6, 17), local(6, 18)),
        # Aarhus after the period (9 Nov): not counted
        span(1, "0751", "available", local(9, 17), local(9, 19)),
    ).run()
    await Call.insert(
        call("a1", "0751", local(3, 17, 10), talk_minutes=5),
        call("a2", "0751", local(3, 17, 30), talk_minutes=3),
        call("a3", "0751", local(3, 18, 0), talk_minutes=4),
        call("a4", "0751", local(3, 18, 30)),  # abandoned: not a served call
        call("h1", "0615", local(4, 17, 15), talk_minutes=5, wrap_minutes=1),  # 6 handled minutes
        call("k1", "0101", local(6, 17, 20), mode="non_member", talk_minutes=4),
        call("a5", "0751", local(9, 17, 0), talk_minutes=9),  # after the period
        call("o0", "0727", local(1, 23, 50), talk_minutes=2),  # before the period (1 Nov)
    ).run()
