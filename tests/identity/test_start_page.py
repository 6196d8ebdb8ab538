"""The start page after sign-in (/me) by role: the agent's console, next shifts, rota and knowledge bank; a kommune
admin's desk with the hand-off counts of that kommune only; the coordinator's federation pages with the overdue
hand-offs across the federation. Every link a role is shown opens for that role."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import httpx
import pytest

from hotline.federation import rota
from hotline.handoffs.tables import HandOff
from hotline.identity import service
from hotline.identity.schemas import EVERY_KOMMUNE, Grant
from tests.fixtures.app import CPH, FixedClock
from tests.fixtures.databases import Database
from tests.fixtures.identity import session_cookie_for

AGENT = [Grant("agent", EVERY_KOMMUNE)]
ADMIN_HORSENS = [Grant("kommune_admin", "0615")]
COORDINATOR = [Grant("coordinator", EVERY_KOMMUNE), Grant("agent", EVERY_KOMMUNE)]
AUDITOR_AARHUS = [Grant("auditor", "0751")]
AGENT_ADMIN_ODDER = [Grant("agent", EVERY_KOMMUNE), Grant("kommune_admin", "0727")]


async def _as(client: httpx.AsyncClient, grants: list[Grant], home: str, clock: FixedClock, name: str) -> None:
    client.cookies.clear()
    client.cookies.set("hotline_session", await session_cookie_for(grants, home, now=clock.now, name=name))


def _main(html: str) -> str:
    return html.split('<main id="main"', 1)[1].split("</main>", 1)[0]


def _links(html: str) -> list[str]:
    return [link.replace("&amp;", "&") for link in re.findall(r'href="(/[^"]*)"', _main(html))]


async def _handoff(kommune: str, status: str, due: dt.datetime, created: dt.datetime) -> None:
    await HandOff.insert(
        HandOff(
            handoff_id=str(uuid.uuid4()),
            kommune_code=kommune,
            department="borgerservice",
            topic="pas",
            created_at=created,
            due_at=due,
            status=status,
            updated_at=created,
        )
    ).run()


async def test_an_agent_starts_at_the_console_with_their_next_shifts(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await _as(client, AGENT, "0727", clock, "Agent Odder")
    me = await client.get("/me")
    assert me.status_code == 200
    main = _main(me.text)
    assert 'href="/console"' in main
    assert "Gå til agentkonsollen" in main
    assert "Du er ikke skrevet op til nogen vagter" in main
    assert {"/rota", "/kb"} <= set(_links(me.text))
    assert not any(link.startswith(("/admin/", "/settlement", "/handoffs")) for link in _links(me.text))
    # Signed up to tomorrow evening's shift, it is on the start page with a link to its week.
    tomorrow = clock.now.astimezone(CPH).date() + dt.timedelta(days=1)
    (shift,) = await rota.create_shifts(
        [rota.ShiftPlan(*rota.shift_span(tomorrow, dt.time(16), dt.time(20)), 2)], by="test", now=clock.now
    )
    user_id = await _user_id(client, clock)
    await rota.sign_up(shift, user_id=user_id, home_kommune="0727", name="Agent Odder", now=clock.now)
    main = _main((await client.get("/me")).text)
    assert "i morgen kl. 16:00–20:00" in main
    assert f'href="/rota?week={tomorrow.isoformat()}"' in main
    english = _main((await client.get("/me?lang=en")).text)
    assert "Go to the agent console" in english
    assert "tomorrow at 16:00–20:00" in english


async def _user_id(client: httpx.AsyncClient, clock: FixedClock) -> int:
    principal = await service.session_principal(
        client.cookies["hotline_session"], clock.now, idle=dt.timedelta(hours=1), absolute=dt.timedelta(hours=1)
    )
    assert principal is not None
    return principal.user_id


async def test_a_kommune_admin_sees_the_kommunes_open_and_overdue_handoffs(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    now = clock.now
    past, future = now - dt.timedelta(days=2), now + dt.timedelta(days=1)
    await _handoff("0615", "open", past, past - dt.timedelta(days=1))  # overdue
    await _handoff("0615", "open", past, past - dt.timedelta(days=1))  # overdue
    await _handoff("0615", "open", future, now)
    await _handoff("0615", "acknowledged", past, past - dt.timedelta(days=1))
    await _handoff("0615", "closed", past, past - dt.timedelta(days=1))
    await _handoff("0751", "open", past, past - dt.timedelta(days=1))  # another kommune's
    await _as(client, ADMIN_HORSENS, "0615", clock, "Admin Horsens")
    me = await client.get("/me")
    main = _main(me.text)
    assert "Som kommuneadministrator · Horsens Kommune (0615)" in main
    assert "3 åbne · 1 modtaget" in main
    assert "2 over fristen" in main
    links = set(_links(me.text))
    assert {
        "/admin/0615/handoffs",
        "/admin/0615/handoffs?overdue=1",
        "/admin/0615/figures",
        "/admin/kommuner/0615/kb/",
        "/admin/kommuner/0615/kb/reports",
        "/admin/kommuner/0615/letterhead",
        "/admin/kommuner/0615/tokens",
        "/wallboard?kommune=0615",
    } <= links
    assert not any("0751" in link for link in links)
    assert "/console" not in links
    assert "/settlement" not in links
    # The coordinator counts the overdue hand-offs of every kommune.
    await _as(client, COORDINATOR, "0751", clock, "Coordinator")
    main = _main((await client.get("/me")).text)
    assert "3 i hele føderationen" in main
    assert {"/wallboard", "/figures", "/rota", "/forecast", "/settlement", "/handoffs/overdue", "/kb/manage/"} <= set(
        _links((await client.get("/me")).text)
    )


@pytest.mark.parametrize(
    ("grants", "home", "expected"),
    [
        (AGENT, "0727", {"/console", "/rota", "/kb"}),
        (ADMIN_HORSENS, "0615", {"/admin/0615/handoffs", "/admin/0615/figures", "/admin/kommuner/0615/letterhead"}),
        (COORDINATOR, "0751", {"/console", "/wallboard", "/settlement", "/handoffs/overdue", "/kb/manage/"}),
        (AUDITOR_AARHUS, "0751", {"/admin/kommuner/0751/audit"}),
        (AGENT_ADMIN_ODDER, "0727", {"/console", "/letters/0727/compose", "/admin/0727/handoffs"}),
    ],
    ids=["agent", "admin", "coordinator", "auditor", "agent-admin"],
)
async def test_every_link_on_the_start_page_opens_for_that_role(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock, grants: list[Grant], home: str, expected: set[str]
) -> None:
    await _as(client, grants, home, clock, "Someone")
    me = await client.get("/me")
    assert me.status_code == 200
    links = sorted(set(_links(me.text)))
    assert expected <= set(links)
    if grants == AUDITOR_AARHUS:  # an auditor reads the log and is offered nothing the role cannot open
        assert "Som revisor · Aarhus Kommune (0751)" in me.text
        assert links == ["/admin/kommuner/0751/audit"]
    for link in links:
        response = await client.get(link, headers={"accept": "text/html"})
        assert response.status_code == 200, (link, response.status_code)
