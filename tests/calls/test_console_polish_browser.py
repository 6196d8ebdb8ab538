"""The agent console in headless Chromium, as the evening agent sees it: the wrap-up form disabled (and saying why)
until a call is answered, the answer button gone once it is (also after a reload), the hand-off fields only for a
hand-off, the topics by name, the knowledge search answering inside the pop, and the queue as a picture."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar
from playwright.async_api import Page

from hotline.calls.telephony import Offered
from tests.calls.conftest import AARHUS_NUMBER, Telephony, make_agent, new_secret, runtime_of, serve
from tests.fixtures.app import FixedClock
from tests.fixtures.browser import signed_in_page
from tests.fixtures.databases import Database
from tests.fixtures.knowledge import eventually


async def _focused(page: Page) -> str:
    value: str = await page.evaluate(
        "() => { const e = document.activeElement; return e ? (e.id || e.className || e.tagName) : ''; }"
    )
    return value


@pytest.mark.browser
async def test_the_form_follows_the_call_and_the_answer_button_goes_once_answered(
    kb_seeded: Database, calls_app: Litestar, clock: FixedClock
) -> None:
    async with serve(calls_app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        replica = calls_app.state.services.kb_replica
        await eventually(lambda: bool(replica.rules("0751").topics), what="Aarhus's rules in the replica")
        agent = await make_agent(client, clock, "Polish Browser Agent")
        _, secret = await new_secret("0751", clock, calls_app)
        platform = Telephony(client, clock, "0751", secret)
        async with signed_in_page(url, agent.session) as (page, problems):
            await page.goto("/console")

            # No call: the form is disabled and says why; the hand-off fields are not shown.
            inactive = page.locator("#wrap-up-inactive")
            assert await inactive.is_visible()
            for control in ("#notes", "#outcome", "#topic", "#wrap-up-save"):
                assert await page.locator(control).is_disabled(), control
            assert await page.locator("#handoff-fields").is_hidden()
            assert await page.locator("#topic option[value=pas]").inner_text() == "Pas"

            await page.get_by_role("button", name="Gå ledig").click()
            await page.locator("#presence-state[data-state=available]").wait_for(timeout=10_000)
            await runtime_of(calls_app).tick()  # the queue figures go out with the tick
            await page.locator("[data-queue=available]", has_text="1").wait_for(timeout=10_000)
            bar = page.locator("[data-queue-bar=available]")
            assert float(await bar.get_attribute("width") or "0") > 0

            caller = "+4520000051"
            offered = Offered(call_id="pol-1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number=caller)
            assert (await platform.post(offered)).status_code == 200
            pop = page.locator('#screen-pop[data-call-id="pol-1"]')
            await pop.wait_for(timeout=10_000)
            assert await page.locator("#notes").is_disabled()  # ringing: not answered yet
            headings = await pop.locator(".pop-topic summary").all_inner_texts()
            assert headings
            assert not [heading for heading in headings if heading.strip() == heading.strip().lower()], headings

            # The search box answers inside the pop, with topic names.
            await pop.locator("#pop-q").fill("pas")
            await pop.locator("#pop-q").press("Enter")
            await pop.locator("#pop-search-status", has_text="fundet").wait_for(timeout=10_000)
            hit = pop.locator(".pop-hit").first
            await hit.wait_for(timeout=10_000)
            assert await pop.locator(".pop-hit .chip", has_text="Pas").count() >= 1
            await hit.locator("summary").click()
            assert await hit.locator(".kb-body").is_visible()
            assert page.url.endswith("/console")

            answer = pop.get_by_role("button", name="Besvar")
            await answer.focus()
            await page.keyboard.press("Enter")
            await page.locator("#presence-state[data-state=on_call]").wait_for(timeout=10_000)
            await pop.locator(".pop-answered", has_text="Besvaret kl.").wait_for(timeout=10_000)
            assert await pop.locator("[data-action=answer]").count() == 0
            assert await _focused(page) == "pop-answered"  # the keyboard stays where the button was
            assert await page.locator("#notes").is_enabled()
            assert await page.locator("#wrap-up-save").is_enabled()
            assert await inactive.is_hidden()

            # The hand-off fields follow the outcome.
            assert await page.locator("#handoff-fields").is_hidden()
            await page.select_option("#outcome", "handed_off")
            assert await page.locator("#handoff-fields").is_visible()
            await page.select_option("#outcome", "solved")
            assert await page.locator("#handoff-fields").is_hidden()

            # A reload (a reconnecting console) shows the call answered, not the answer button.
            await page.reload()
            await pop.locator(".pop-answered", has_text="Besvaret kl.").wait_for(timeout=10_000)
            assert await pop.locator("[data-action=answer]").count() == 0
            await page.locator("#notes:enabled").wait_for(timeout=10_000)

            await page.fill("#notes", "Borgeren spurgte om pas")
            await page.select_option("#topic", "pas")
            await page.get_by_role("button", name="Gem og afslut").click()
            await page.locator("#console-message", has_text="afsluttet").wait_for(timeout=10_000)
            assert await page.locator("#notes").is_disabled()
            assert await inactive.is_visible()
            assert await _focused(page) == "console-message"
            assert problems == []  # no CSP violation, no script error


@pytest.mark.browser
async def test_the_console_in_english_names_topics_in_english(calls_app: Litestar, clock: FixedClock) -> None:
    async with serve(calls_app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        agent = await make_agent(client, clock, "English Agent")
        async with signed_in_page(url, agent.session) as (page, problems):
            await page.goto("/console?lang=en")
            assert await page.locator("h1").inner_text() == "Agent console"
            assert await page.locator("#topic option[value=pas]").inner_text() == "Passports"
            assert "when you have answered a call" in await page.locator("#wrap-up-inactive").inner_text()
            assert await page.locator("#notes").is_disabled()
            assert problems == []  # no CSP violation, no script error
