"""A call from offered to wrap-up through the real app."""

from __future__ import annotations

import datetime as dt

import httpx
from litestar import Litestar

from hotline.calls.tables import AgentPresence, Call
from hotline.calls.telephony import Answered, Ended, Offered
from tests.calls.conftest import AARHUS_NUMBER, Telephony, make_agent, runtime_of
from tests.fixtures.app import FixedClock


async def test_offered_call_rings_the_available_agent_and_is_wrapped_up(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock
) -> None:
    agent = await make_agent(http, clock, "Alma")
    response = await agent.presence("available")
    assert response.status_code == 200, response.text
    response = await telephony.post(
        Offered(call_id="c1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000001")
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1, "duplicates": 0}
    call = await Call.select().where(Call.call_id == "c1").first()
    assert call["status"] == "ringing"
    assert call["ring_agent_id"] == agent.user_id
    assert call["kommune_code"] == "0751"
    assert call["mode"] == "member"
    assert not call["misrouted"]
    response = await telephony.post(Answered(call_id="c1", at=clock(), agent_id=agent.user_id))
    presence = await AgentPresence.select().where(AgentPresence.user_id == agent.user_id).first()
    assert presence["state"] == "on_call"
    clock.now += dt.timedelta(minutes=3)
    await telephony.post(Ended(call_id="c1", at=clock()))
    response = await agent.wrap_up("c1", outcome="solved", topic="pas", notes="Borger 010203-1234 spurgte om pas")
    assert response.status_code == 200, response.text
    assert response.json()["notes_masked"] is True
    call = await Call.select().where(Call.call_id == "c1").first()
    assert call["status"] == "done"
    assert "010203-1234" not in call["notes"]
    presence = await AgentPresence.select().where(AgentPresence.user_id == agent.user_id).first()
    assert presence["state"] == "available"
    assert runtime_of(calls_app).connections == {}
