"""Issue 5's "done when", end to end in headless Chromium: an agent signs in, goes available, receives a call for
Aarhus from the telephony platform, sees Aarhus's rules in the screen-pop, records a hand-off; Aarhus's admin finds
it in the inbox and Aarhus's systems find it through the Open311 API."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from hotline.calls.tables import Call
from hotline.calls.telephony import Offered
from hotline.handoffs.tables import HandOff
from hotline.identity import service as identity
from hotline.identity.schemas import Grant
from hotline.tenancy import service as tenancy
from tests.calls.conftest import AARHUS_NUMBER, Telephony, make_agent, new_secret, serve
from tests.fixtures.app import FixedClock
from tests.fixtures.browser import signed_in_page
from tests.fixtures.databases import Database
from tests.fixtures.identity import session_cookie_for
from tests.fixtures.knowledge import eventually


@pytest.mark.browser
async def test_a_call_for_aarhus_is_handed_off_and_reaches_the_admin_inbox_and_open311(
    kb_seeded: Database, calls_app: Litestar, clock: FixedClock
) -> None:
    aarhus = await tenancy.get_tenant("0751")
    department = aarhus.department_for_topic("storskrald")
    assert department is not None
    async with serve(calls_app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        replica = calls_app.state.services.kb_replica
        await eventually(lambda: bool(replica.rules("0751").topics), what="Aarhus's rules in the replica")
        titles = [article.title for topic in replica.rules("0751").topics for article in topic.articles]
        agent = await make_agent(client, clock, "Done-when Agent", home="0615")
        _, secret = await new_secret("0751", clock, calls_app)
        platform = Telephony(client, clock, "0751", secret)
        async with signed_in_page(url, agent.session) as (page, problems):
            await page.goto("/console")
            await page.get_by_role("button", name="Gå ledig").click()
            await page.locator("#presence-state[data-state=available]").wait_for(timeout=10_000)
            offered = Offered(call_id="dw-1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000041")
            assert (await platform.post(offered)).status_code == 200
            pop = page.locator('#screen-pop[data-call-id="dw-1"]')
            await pop.wait_for(timeout=10_000)
            assert "Aarhus Kommune" in await pop.inner_text()
            shown = await pop.inner_html()
            assert any(title in shown for title in titles), "the screen-pop shows none of Aarhus's rules"
            await pop.get_by_role("button", name="Besvar").click()
            await page.locator("#presence-state[data-state=on_call]").wait_for(timeout=10_000)
            await page.select_option("#outcome", "handed_off")
            await page.select_option("#topic", "storskrald")
            await page.locator("#handoff-fields").wait_for(state="visible", timeout=5_000)
            await page.fill("#handoff-description", "Borgeren vil have hentet en sofa, men ordningen er fuld.")
            await page.fill("#handoff-email", "borger@example.org")
            await page.get_by_role("button", name="Gem og afslut").click()
            await page.locator("#console-message", has_text="afsluttet").wait_for(timeout=10_000)
            assert problems == []  # no CSP violation, no script error

        call = await Call.select(Call.status, Call.outcome).where(Call.call_id == "dw-1").first()
        assert call == {"status": "done", "outcome": "handed_off"}
        handoff = await HandOff.select().where(HandOff.call_id == "dw-1").first()
        assert handoff is not None
        assert handoff["kommune_code"] == "0751"
        assert handoff["department"] == department.key

        # Aarhus's admin sees it in the inbox; another kommune's admin does not get in.
        admin = await session_cookie_for([Grant("kommune_admin", "0751")], "0751", now=clock(), name="Aarhus Admin")
        inbox = await client.get(
            "/admin/0751/handoffs", headers={"accept": "text/html", "cookie": f"hotline_session={admin}"}
        )
        assert inbox.status_code == 200
        assert handoff["handoff_id"] in inbox.text
        other = await session_cookie_for([Grant("kommune_admin", "0615")], "0615", now=clock(), name="Horsens Admin")
        refused = await client.get("/admin/0751/handoffs", headers={"cookie": f"hotline_session={other}"})
        assert refused.status_code == 403

        # Aarhus's own systems list it through Open311 with a token carrying the hand-offs permission.
        _, token = await identity.create_api_token("0751", "sagssystem", ["handoffs"], created_by="test", now=clock())
        listed = await client.get("/api/open311/v2/0751/requests.json", headers={"authorization": f"Bearer {token}"})
        assert listed.status_code == 200, listed.text
        requests = listed.json()
        assert [r["service_request_id"] for r in requests] == [handoff["handoff_id"]]
        assert requests[0]["service_code"] == "storskrald"
