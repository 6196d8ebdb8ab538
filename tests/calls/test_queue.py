"""The federation queue: routing by dialled number, longest-idle agents with the right skills, ring timeouts,
callbacks past the maximum wait, presence spans, and the console's actions and access."""

from __future__ import annotations

import datetime as dt

import httpx
from litestar import Litestar

from hotline.calls.service import AGENTS_READ_AT_LEAST
from hotline.calls.tables import AgentPresence, Call, Callback, PresenceSpan
from hotline.calls.telephony import Ended, Offered
from hotline.identity.schemas import Grant
from tests.calls.conftest import AARHUS_NUMBER, MORNING, NON_MEMBER_CODE, Telephony, make_agent, runtime_of
from tests.fixtures.app import FixedClock
from tests.fixtures.identity import session_cookie_for


async def _call(call_id: str) -> dict:  # type: ignore[type-arg]
    row = await Call.select().where(Call.call_id == call_id).first()
    assert row is not None
    return row


async def _state(user_id: int) -> str:
    row = await AgentPresence.select(AgentPresence.state).where(AgentPresence.user_id == user_id).first()
    return str(row["state"])


async def test_routing_member_open_misrouted_non_member_and_unknown(telephony: Telephony, clock: FixedClock) -> None:
    non_member = f"+4570{NON_MEMBER_CODE[1:]}000"
    await telephony.post(
        Offered(call_id="evening", at=clock(), dialled_number=AARHUS_NUMBER),
        Offered(call_id="nonmember", at=clock(), dialled_number=non_member),
        Offered(call_id="unknown", at=clock(), dialled_number="+4511223344"),
        Offered(call_id="morning", at=MORNING, dialled_number=AARHUS_NUMBER),
    )
    evening, nonmember, unknown, morning = [await _call(c) for c in ("evening", "nonmember", "unknown", "morning")]
    assert (evening["mode"], evening["kommune_code"], evening["misrouted"]) == ("member", "0751", False)
    assert (morning["mode"], morning["kommune_code"], morning["misrouted"]) == ("member", "0751", True)
    assert (nonmember["mode"], nonmember["kommune_code"], nonmember["misrouted"]) == ("non_member", "0101", False)
    assert (unknown["mode"], unknown["kommune_code"]) == ("unknown", "")


async def test_longest_idle_agent_with_the_language_gets_the_call(
    http: httpx.AsyncClient, telephony: Telephony, clock: FixedClock
) -> None:
    first = await make_agent(http, clock, "First")
    second = await make_agent(http, clock, "Second")
    english = await make_agent(http, clock, "English")
    assert (await first.presence("available")).status_code == 200
    clock.now += dt.timedelta(seconds=5)
    await second.presence("available")
    clock.now += dt.timedelta(seconds=5)
    await english.presence("available", languages=["da", "en"], skills=["pas"])
    clock.now += dt.timedelta(seconds=5)
    await telephony.post(
        Offered(call_id="en1", at=clock(), dialled_number=AARHUS_NUMBER, language="en"),
    )
    assert (await _call("en1"))["ring_agent_id"] == english.user_id
    await telephony.post(Offered(call_id="da1", at=clock(), dialled_number=AARHUS_NUMBER))
    assert (await _call("da1"))["ring_agent_id"] == first.user_id  # idle longest
    await telephony.post(Offered(call_id="da2", at=clock(), dialled_number=AARHUS_NUMBER))
    assert (await _call("da2"))["ring_agent_id"] == second.user_id
    await telephony.post(Offered(call_id="en2", at=clock(), dialled_number=AARHUS_NUMBER, language="en"))
    assert (await _call("en2"))["status"] == "queued"  # nobody left who speaks English


async def test_the_only_english_speaker_gets_the_english_call_however_far_down_the_idle_list(
    http: httpx.AsyncClient, telephony: Telephony, clock: FixedClock
) -> None:
    # Assignment reads a few longest-idle agents per call first; more Danish-only agents than that are idle longer.
    danish = [await make_agent(http, clock, f"Dansk {n}") for n in range(AGENTS_READ_AT_LEAST + 3)]
    for agent in danish:
        await agent.presence("available")
        clock.now += dt.timedelta(seconds=1)
    english = await make_agent(http, clock, "English")
    await english.presence("available", languages=["da", "en"], skills=["pas"])
    await telephony.post(Offered(call_id="en-far", at=clock(), dialled_number=AARHUS_NUMBER, language="en"))
    assert (await _call("en-far"))["ring_agent_id"] == english.user_id
    await telephony.post(Offered(call_id="pas-far", at=clock(), dialled_number=AARHUS_NUMBER, topic="pas"))
    assert (await _call("pas-far"))["ring_agent_id"] == danish[0].user_id  # the skilled one is taken: longest idle


async def test_topic_skill_is_preferred_and_priority_goes_first(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock
) -> None:
    await telephony.post(
        Offered(call_id="low", at=clock() - dt.timedelta(seconds=60), dialled_number=AARHUS_NUMBER),
        Offered(call_id="high", at=clock(), dialled_number=AARHUS_NUMBER, priority=5, topic="pas"),
    )
    plain = await make_agent(http, clock, "Plain")
    skilled = await make_agent(http, clock, "Skilled")
    await plain.presence("available")
    clock.now += dt.timedelta(seconds=1)
    await skilled.presence("available", skills=["pas"])
    # Plain went available first: the high-priority call went to them at once.
    assert (await _call("high"))["ring_agent_id"] == plain.user_id
    assert (await _call("low"))["ring_agent_id"] == skilled.user_id


async def test_ring_timeout_reoffers_to_the_next_agent_and_pauses_the_first(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock
) -> None:
    slow = await make_agent(http, clock, "Slow")
    quick = await make_agent(http, clock, "Quick")
    await slow.presence("available")
    clock.now += dt.timedelta(seconds=1)
    await quick.presence("available")
    await telephony.post(Offered(call_id="r1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000010"))
    assert (await _call("r1"))["ring_agent_id"] == slow.user_id
    clock.now += dt.timedelta(seconds=19)
    await runtime_of(calls_app).tick()
    assert (await _call("r1"))["ring_agent_id"] == slow.user_id
    clock.now += dt.timedelta(seconds=2)
    effects = await runtime_of(calls_app).tick()
    call = await _call("r1")
    assert call["ring_agent_id"] == quick.user_id
    assert call["ring_attempts"] == 2
    assert await _state(slow.user_id) == "pause"
    assert (slow.user_id, "r1") in effects.cancelled
    # Presence cannot be changed while the call rings; the other agent answers.
    assert (await quick.presence("pause")).status_code == 409
    assert (await slow.answer("r1")).status_code == 409
    assert (await quick.answer("r1")).status_code == 200
    assert await _state(quick.user_id) == "on_call"
    spans = await PresenceSpan.select().where(PresenceSpan.user_id == slow.user_id).order_by(PresenceSpan.started_at)
    assert [s["state"] for s in spans] == ["available", "ringing"]


async def test_an_agent_whose_process_died_while_it_rang_is_withdrawn_and_the_call_requeued(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock
) -> None:
    agent = await make_agent(http, clock, "Gone")
    await agent.presence("available")
    await telephony.post(Offered(call_id="g1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000011"))
    assert (await _call("g1"))["ring_agent_id"] == agent.user_id
    # Their live connection was held by another process, which stopped vouching for them 2 minutes ago.
    await AgentPresence.update(
        {AgentPresence.node: "a-dead-process", AgentPresence.last_seen_at: clock() - dt.timedelta(minutes=2)}
    ).where(AgentPresence.user_id == agent.user_id)
    clock.now += dt.timedelta(seconds=1)  # well within the ring timeout: the staleness check releases the call
    effects = await runtime_of(calls_app).tick()
    assert await _state(agent.user_id) == "offline"
    assert (await _call("g1"))["status"] == "queued"
    assert (agent.user_id, "g1") in effects.cancelled  # so the platform is told to stop ringing them


async def test_past_the_maximum_wait_the_caller_gets_a_callback_offered_after_live_calls(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock
) -> None:
    await telephony.post(
        Offered(call_id="long", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000011"),
        Offered(call_id="hidden", at=clock(), dialled_number=AARHUS_NUMBER),
    )
    clock.now += dt.timedelta(seconds=181)
    await runtime_of(calls_app).tick()
    assert (await _call("long"))["status"] == "callback"
    assert (await _call("hidden"))["status"] == "queued"  # a withheld number cannot be called back
    callback = await Callback.select().where(Callback.call_id == "long").first()
    assert (callback["kommune_code"], callback["number"], callback["status"]) == ("0751", "+4520000011", "queued")
    await telephony.post(Offered(call_id="live", at=clock(), dialled_number=AARHUS_NUMBER))
    one = await make_agent(http, clock, "One")
    two = await make_agent(http, clock, "Two")
    three = await make_agent(http, clock, "Three")
    await one.presence("available")
    await two.presence("available")
    await three.presence("available")
    # Live calls first (the withheld one waited longest), then the callback.
    assert (await _call("hidden"))["ring_agent_id"] == one.user_id
    assert (await _call("live"))["ring_agent_id"] == two.user_id
    callback = await Callback.select().where(Callback.call_id == "long").first()
    assert (callback["status"], callback["agent_id"]) == ("assigned", three.user_id)
    assert (await three.answer("long")).status_code == 200
    response = await three.wrap_up("long", outcome="solved", topic="pas", notes="")
    assert response.status_code == 200, response.text
    callback = await Callback.select().where(Callback.call_id == "long").first()
    assert callback["status"] == "done"
    assert await _state(three.user_id) == "available"


async def test_transfer_only_to_the_kommunes_departments_and_wrap_up_checks(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock
) -> None:
    agent = await make_agent(http, clock, "Agent")
    other = await make_agent(http, clock, "Other")
    await agent.presence("available")
    await telephony.post(Offered(call_id="t1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000012"))
    assert (await agent.transfer("t1", "+4587130000")).status_code == 409  # not answered yet
    assert (await agent.answer("t1")).status_code == 200
    tenant = await runtime_of(calls_app).router.tenant("0751")
    assert tenant is not None
    department = tenant.departments[0].phone
    wrong = await agent.transfer("t1", "+4511111111")
    assert wrong.status_code == 400
    assert "to_number" in wrong.text
    assert (await agent.transfer("t1", "not a number")).status_code == 400
    assert (await other.transfer("t1", department)).status_code == 409
    assert (await agent.transfer("t1", department)).status_code == 200
    assert (await _call("t1"))["transferred_to"] == department
    bad = [
        ({"outcome": "solved", "topic": "no-such-topic"}, "topic"),
        ({"outcome": "maybe"}, "outcome"),
        ({"outcome": "handed_off", "topic": "pas"}, "handoff"),
        ({"outcome": "handed_off", "topic": "pas", "handoff": {"description": ""}}, "description"),
        ({"outcome": "solved", "notes": "x" * 4001}, "notes"),
        ({"outcome": "solved", "notes": "before\u0000after"}, "notes"),  # PostgreSQL cannot store NUL
        (
            {"outcome": "handed_off", "topic": "pas", "handoff": {"description": "a\u0000b"}},
            "description",
        ),
    ]
    for body, field in bad:
        response = await agent.wrap_up("t1", **body)
        assert response.status_code == 400, (body, response.text)
        assert field in response.text, (body, response.text)
    assert (await _call("t1"))["status"] == "answered"  # nothing half-applied
    assert (await other.wrap_up("t1", outcome="solved")).status_code == 409
    assert (await agent.wrap_up("nope", outcome="solved")).status_code == 404
    assert (await agent.wrap_up("nope", outcome="solved", notes="\u0000")).status_code == 400
    await telephony.post(Ended(call_id="t1", at=clock()))
    assert await _state(agent.user_id) == "wrap_up"


async def test_hand_off_is_created_in_the_wrap_up(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock
) -> None:
    from hotline.handoffs.tables import HandOff

    agent = await make_agent(http, clock, "Hanne")
    await agent.presence("available")
    await telephony.post(Offered(call_id="h1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000013"))
    await agent.answer("h1")
    response = await agent.wrap_up(
        "h1",
        outcome="handed_off",
        topic="storskrald",
        notes="Borger med CPR 111111-1118",
        handoff={"description": "Storskrald ikke afhentet 111111-1118", "citizen_email": "borger@example.org"},
    )
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["handoff_id"]
    assert out["notes_masked"] is True
    handoff = await HandOff.select().first()
    assert handoff["kommune_code"] == "0751"
    assert handoff["call_id"] == "h1"
    assert "111111-1118" not in str(handoff)
    bad_email = await telephony.post(
        Offered(call_id="h2", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000014")
    )
    assert bad_email.status_code == 200
    await agent.answer("h2")
    response = await agent.wrap_up(
        "h2", outcome="handed_off", topic="storskrald", handoff={"description": "x", "citizen_email": "not-an-email"}
    )
    assert response.status_code == 400
    assert "citizen_email" in response.text
    assert (await _call("h2"))["status"] == "answered"
    assert await HandOff.count() == 1


async def test_console_is_for_agents_only(http: httpx.AsyncClient, clock: FixedClock) -> None:
    for role, kommune in (("kommune_admin", "0615"), ("coordinator", "*"), ("auditor", "0615")):
        session = await session_cookie_for([Grant(role, kommune)], "0615", now=clock(), name=role)  # type: ignore[arg-type]
        headers = {"cookie": f"hotline_session={session}", "accept": "text/html"}
        assert (await http.get("/console", headers=headers)).status_code == 403, role
        stream = {"cookie": f"hotline_session={session}", "accept": "text/event-stream"}
        assert (await http.get("/console/events", headers=stream)).status_code == 403, role
    assert (await http.get("/console", headers={"accept": "application/json"})).status_code == 401
    agent = await make_agent(http, clock, "Page")
    page = await http.get("/console", headers={"cookie": f"hotline_session={agent.session}", "accept": "text/html"})
    assert page.status_code == 200
    assert 'id="screen-pop"' in page.text
    assert "console.js" in page.text
    not_stream = await http.get("/console/events", headers=agent.headers)
    assert not_stream.status_code == 406
