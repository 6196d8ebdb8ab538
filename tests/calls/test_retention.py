"""Retention of calls: past its kommune's ``retention_days`` (an unknown number: the default) a call loses the
caller's number and the agent's notes, its telephony events lose the numbers in their payloads and its callback
its number, while everything the figures count stays; the runtime's tick runs the sweep every few minutes and a
second sweep writes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from litestar import Litestar

from hotline.calls import repository, service
from hotline.calls.runtime import RETENTION_EVERY
from hotline.calls.service import RetentionSwept
from hotline.calls.tables import Call, Callback, CallEvent
from hotline.calls.telephony import Answered, CallbackRequested, Ended, Offered
from hotline.tenancy.service import NO_KOMMUNE_RETENTION_DAYS
from tests.calls.conftest import AARHUS_NUMBER, Telephony, runtime_of
from tests.fixtures.app import FixedClock

ODDER_NUMBER = "+4570727000"
UNKNOWN_NUMBER = "+4511223344"
MINUTE = dt.timedelta(minutes=1)
# Aarhus keeps contact data 30 days, Odder 90 (tenants/*/kommune.toml); a number no kommune owns, the default.
AARHUS_DAYS = dt.timedelta(days=30)
ODDER_DAYS = dt.timedelta(days=90)
DEFAULT_DAYS = dt.timedelta(days=NO_KOMMUNE_RETENTION_DAYS)


async def a_call(telephony: Telephony, call_id: str, dialled: str, offered: dt.datetime, *, callback: bool) -> None:
    """A call as the platform reports it (the caller's number in ``offered``, a callback number in
    ``callback_requested``), then the agent's notes and the callback the hotline queued, dated like the call."""
    caller = f"+4520{offered:%m%d%H%M}"[:12]
    events: list[Any] = [Offered(call_id=call_id, at=offered, dialled_number=dialled, caller_number=caller)]
    if callback:
        events.append(CallbackRequested(call_id=call_id, at=offered + MINUTE, number="+4530123456"))
    else:
        events += [
            Answered(call_id=call_id, at=offered + MINUTE, agent_id=7),
            Ended(call_id=call_id, at=offered + 5 * MINUTE),
        ]
    assert (await telephony.post(*events)).status_code == 200
    await (
        Call.update({Call.notes: "Jens Hansen, Vestergade 12, spurgte om storskrald", Call.topic: "storskrald"})
        .where(Call.call_id == call_id)
        .run()
    )
    if callback:
        await (
            Callback.update({Callback.requested_at: offered, Callback.status: "done"})
            .where(Callback.call_id == call_id)
            .run()
        )


async def calls() -> dict[str, dict[str, Any]]:
    return {row["call_id"]: row for row in await Call.select().run()}


async def callbacks() -> dict[str, dict[str, Any]]:
    return {row["call_id"]: row for row in await Callback.select().run()}


async def payloads() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for row in await CallEvent.select(CallEvent.dedupe_key, CallEvent.payload).run():
        payload = row["payload"]
        found[row["dedupe_key"]] = msgspec.json.decode(payload) if isinstance(payload, str | bytes) else payload
    return found


def without(payload: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key not in keys}


async def test_the_tick_erases_numbers_and_notes_past_each_kommunes_retention_and_keeps_the_rest(
    telephony: Telephony, calls_app: Litestar, clock: FixedClock
) -> None:
    now = clock()
    await a_call(telephony, "aarhus-old", AARHUS_NUMBER, now - AARHUS_DAYS - MINUTE, callback=True)
    await a_call(telephony, "aarhus-recent", AARHUS_NUMBER, now - AARHUS_DAYS + MINUTE, callback=True)
    await a_call(telephony, "odder-month", ODDER_NUMBER, now - AARHUS_DAYS - MINUTE, callback=False)
    await a_call(telephony, "odder-old", ODDER_NUMBER, now - ODDER_DAYS - MINUTE, callback=False)
    await a_call(telephony, "unknown-old", UNKNOWN_NUMBER, now - DEFAULT_DAYS - MINUTE, callback=False)
    await a_call(telephony, "unknown-recent", UNKNOWN_NUMBER, now - DEFAULT_DAYS + MINUTE, callback=False)
    calls_before, callbacks_before, payloads_before = await calls(), await callbacks(), await payloads()
    assert calls_before["unknown-old"]["kommune_code"] == ""
    assert calls_before["odder-old"]["kommune_code"] == "0727"
    assert payloads_before["aarhus-old:callback_requested"]["number"] == "+4530123456"

    await runtime_of(calls_app).tick()

    calls_after, callbacks_after, payloads_after = await calls(), await callbacks(), await payloads()
    erased = ("aarhus-old", "odder-old", "unknown-old")
    for call_id in erased:
        # Status, kommune, mode, times, agent, outcome, topic, withheld or not: as they were.
        assert calls_after[call_id] == {**calls_before[call_id], "caller_number": "", "notes": ""}
        offered = f"{call_id}:offered"
        assert payloads_after[offered] == without(payloads_before[offered], "caller_number")
    assert callbacks_after["aarhus-old"] == {**callbacks_before["aarhus-old"], "number": ""}
    requested = "aarhus-old:callback_requested"
    assert payloads_after[requested] == without(payloads_before[requested], "number")
    for call_id in ("aarhus-recent", "odder-month", "unknown-recent"):
        assert calls_after[call_id] == calls_before[call_id]
    assert callbacks_after["aarhus-recent"] == callbacks_before["aarhus-recent"]
    for key, payload in payloads_after.items():
        if key.split(":")[0] not in erased:
            assert payload == payloads_before[key]


async def test_a_second_sweep_finds_nothing_and_writes_nothing(
    telephony: Telephony, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = clock()
    await a_call(telephony, "old", AARHUS_NUMBER, now - AARHUS_DAYS - MINUTE, callback=True)
    swept = await service.retention_sweep(now)
    assert (swept.calls, swept.callbacks, swept.events, swept.more) == ({"0751": 1}, {"0751": 1}, {"0751": 2}, False)
    before = (await calls(), await callbacks(), await payloads())

    async def no_writing(*args: Any, **kwargs: Any) -> list[Any]:
        raise AssertionError("the sweep wrote although nothing was due")

    for name in (
        "anonymise_calls",
        "anonymise_callbacks",
        "give_up_callbacks",
        "strip_event_numbers",
        "strip_event_numbers_of_calls",
    ):
        monkeypatch.setattr(repository, name, no_writing)
    assert await service.retention_sweep(now) == RetentionSwept()
    assert await service.retention_sweep(now + dt.timedelta(days=1)) == RetentionSwept()
    assert (await calls(), await callbacks(), await payloads()) == before


async def test_a_waiting_callback_past_the_retention_expires_and_one_ringing_now_waits_for_the_next_pass(
    telephony: Telephony, clock: FixedClock
) -> None:
    now = clock()
    await a_call(telephony, "waiting", AARHUS_NUMBER, now - AARHUS_DAYS - MINUTE, callback=True)
    await a_call(telephony, "ringing", AARHUS_NUMBER, now - AARHUS_DAYS - MINUTE, callback=True)
    await Callback.update({Callback.status: "queued"}).where(Callback.call_id == "waiting").run()
    await (
        Callback.update({Callback.status: "assigned", Callback.agent_id: 7}).where(Callback.call_id == "ringing").run()
    )
    await service.retention_sweep(now)
    after = await callbacks()
    assert (after["waiting"]["status"], after["waiting"]["outcome"], after["waiting"]["number"]) == (
        "failed",
        service.CALLBACK_EXPIRED,
        "",
    )
    assert (after["ringing"]["status"], after["ringing"]["number"] != "") == ("assigned", True)
    await (
        Callback.update({Callback.status: "queued", Callback.agent_id: None}).where(Callback.call_id == "ringing").run()
    )
    await service.retention_sweep(now)  # the ring ended: the next pass takes it
    assert (await callbacks())["ringing"]["number"] == ""


async def test_a_number_given_for_a_callback_by_a_caller_who_withheld_theirs_is_erased_too(
    telephony: Telephony, clock: FixedClock
) -> None:
    now = clock()
    offered = now - AARHUS_DAYS - MINUTE
    await telephony.post(
        Offered(call_id="withheld", at=offered, dialled_number=AARHUS_NUMBER),
        CallbackRequested(call_id="withheld", at=offered + MINUTE, number="+4530123456"),
    )
    call = (await calls())["withheld"]
    assert (call["caller_number"], call["caller_withheld"], call["notes"]) == ("", True, "")
    swept = await service.retention_sweep(now)
    assert (swept.calls, swept.events) == ({}, {"0751": 1})
    assert "number" not in (await payloads())["withheld:callback_requested"]
    assert (await calls())["withheld"] == call


async def test_an_event_whose_call_never_came_loses_its_number_and_can_still_be_applied(
    telephony: Telephony, clock: FixedClock
) -> None:
    now = clock()
    asked = CallbackRequested(call_id="ghost", at=now - DEFAULT_DAYS - MINUTE, number="+4530123456")
    assert (await telephony.post(asked)).status_code == 200
    # Stored when it arrived (long ago), waiting for its call's offered.
    await (
        CallEvent.update({CallEvent.received_at: now - DEFAULT_DAYS - MINUTE}).where(CallEvent.call_id == "ghost").run()
    )
    swept = await service.retention_sweep(now)
    assert swept.events == {"": 1}
    assert "number" not in (await payloads())["ghost:callback_requested"]
    # What applying it needs (its time) is still there: the late offered makes a call that asked for a callback.
    await telephony.post(Offered(call_id="ghost", at=asked.at - MINUTE, dialled_number=AARHUS_NUMBER))
    ghost = (await calls())["ghost"]
    assert repository.aware(ghost["callback_requested_at"]) == asked.at


async def test_a_long_history_is_swept_in_bounded_batches_over_several_passes(
    telephony: Telephony, clock: FixedClock
) -> None:
    now = clock()
    for index in range(5):
        await a_call(telephony, f"old-{index}", AARHUS_NUMBER, now - AARHUS_DAYS - (index + 1) * MINUTE, callback=False)
    first = await service.retention_sweep(now, batch=2, max_batches=2)
    assert (first.calls, first.more) == ({"0751": 4}, True)
    second = await service.retention_sweep(now, batch=2, max_batches=2)
    assert (second.calls, second.more) == ({"0751": 1}, False)
    assert all(row["caller_number"] == "" for row in (await calls()).values())


async def test_the_tick_sweeps_every_few_minutes_and_sooner_while_a_long_history_remains(
    calls_app: Litestar, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    passes: list[dt.datetime] = []
    more = [False]

    async def counted(now: dt.datetime) -> RetentionSwept:
        passes.append(now)
        return RetentionSwept(more=more[0])

    monkeypatch.setattr(service, "retention_sweep", counted)
    runtime = runtime_of(calls_app)
    start = clock()
    await runtime.tick()
    clock.now = start + dt.timedelta(seconds=1)
    await runtime.tick()
    assert passes == [start]
    clock.now = start + RETENTION_EVERY
    more[0] = True
    await runtime.tick()
    clock.now += dt.timedelta(seconds=1)
    more[0] = False
    await runtime.tick()
    clock.now += dt.timedelta(seconds=1)
    await runtime.tick()
    assert passes == [start, start + RETENTION_EVERY, start + RETENTION_EVERY + dt.timedelta(seconds=1)]
