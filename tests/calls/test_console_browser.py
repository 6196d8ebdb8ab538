"""The agent console in headless Chromium: go available, receive a call, see the kommune's screen-pop, reach the
controls with the keyboard, answer with Enter, write notes with a CPR number and wrap up: the stored notes are
masked."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from hotline.calls.tables import Call
from hotline.calls.telephony import Offered
from tests.calls.conftest import AARHUS_NUMBER, Telephony, make_agent, new_secret, serve
from tests.fixtures.app import FixedClock
from tests.fixtures.browser import signed_in_page


@pytest.mark.browser
async def test_agent_takes_a_call_in_the_browser_and_cpr_is_masked(calls_app: Litestar, clock: FixedClock) -> None:
    async with serve(calls_app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        agent = await make_agent(client, clock, "Browser Agent")
        _, secret = await new_secret("0751", clock, calls_app)
        platform = Telephony(client, clock, "0751", secret)
        async with signed_in_page(url, agent.session) as (page, problems):
            await page.goto("/console")
            assert await page.locator("h1").inner_text() == "Agentkonsol"

            # Keyboard: the presence buttons are reachable with Tab; the wrap-up controls are disabled (and
            # so skipped) until a call is answered, then they are reachable too (checked below).
            async def tab_through() -> list[str]:
                await page.locator("h1").click()
                reached: list[str] = []
                for _ in range(60):
                    await page.keyboard.press("Tab")
                    reached.append(
                        await page.evaluate(
                            "() => { const e = document.activeElement;"
                            " return (e.id || e.getAttribute('data-presence') || e.tagName).toString(); }"
                        )
                    )
                return reached

            reached = await tab_through()
            for control in ("available", "pause", "offline"):
                assert control in reached, (control, reached)
            assert "notes" not in reached

            await page.get_by_role("button", name="Gå ledig").click()
            await page.locator("#presence-state[data-state=available]").wait_for(timeout=10_000)
            response = await platform.post(
                Offered(call_id="pw-1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000040")
            )
            assert response.status_code == 200
            pop = page.locator('#screen-pop[data-call-id="pw-1"]')
            await pop.wait_for(timeout=10_000)
            assert "Aarhus Kommune" in await pop.inner_text()
            assert await pop.locator("a[href^='tel:']").count() > 0
            # Ringing shows in the tab's title, and the answer button has the keyboard: Enter answers.
            await page.locator("#presence-state[data-state=ringing]").wait_for(timeout=10_000)
            assert (await page.title()).startswith("☎ Opkald ringer · ")
            assert await page.evaluate("document.activeElement.getAttribute('data-action')") == "answer"
            await page.keyboard.press("Enter")
            await page.locator("#presence-state[data-state=on_call]").wait_for(timeout=10_000)
            assert not (await page.title()).startswith("☎")
            reached = await tab_through()
            for control in ("available", "pause", "offline", "notes", "outcome", "topic", "wrap-up-save"):
                assert control in reached, (control, reached)
            await page.fill("#notes", "Borgeren oplyste CPR 010203-1234 ved en fejl")
            await page.select_option("#outcome", "solved")
            await page.select_option("#topic", "pas")
            assert "/letters/0751/compose?topic=pas&call=pw-1" in (
                await page.locator("#write-reply").get_attribute("href") or ""
            )
            await page.get_by_role("button", name="Gem og afslut").click()
            await page.locator("#console-message", has_text="maskeret").wait_for(timeout=10_000)
            assert problems == []  # no CSP violation, no script error
    row = await Call.select(Call.notes, Call.status, Call.outcome).where(Call.call_id == "pw-1").first()
    assert row["status"] == "done"
    assert row["outcome"] == "solved"
    assert "010203-1234" not in row["notes"]
    assert "XXXXXX-XXXX" in row["notes"]
