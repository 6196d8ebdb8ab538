"""The coordinator's wallboard: figures against hand-computed numbers on real rows, who may see which board, and
the live stream over server-sent events."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from litestar import Litestar

from hotline.calls import wallboard
from hotline.calls.tables import AgentPresence, Call
from hotline.identity import audit
from hotline.identity.schemas import EVERY_KOMMUNE, Grant
from hotline.identity.tables import AuditEntry
from tests.calls.test_simulate import served  # noqa: F401 - the app over real HTTP
from tests.fixtures.app import FixedClock
from tests.fixtures.browser import signed_in_page
from tests.fixtures.databases import Database
from tests.fixtures.identity import session_cookie_for

CPH = ZoneInfo("Europe/Copenhagen")
NOW = dt.datetime(2026, 11, 25, 19, 30, tzinfo=CPH)  # a Wednesday evening


def at(hh: int, mm: int, ss: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, 25, hh, mm, ss, tzinfo=CPH)


async def add_call(call_id: str, kommune: str, offered: dt.datetime, status: str, **times: Any) -> None:
    mode = times.pop("mode", "member")
    await Call.insert(
        Call(call_id=call_id, kommune_code=kommune, mode=mode, status=status, offered_at=offered, **times)
    ).run()


async def add_agent(user_id: int, home: str, state: str) -> None:
    await AgentPresence.insert(AgentPresence(user_id=user_id, home_kommune=home, state=state)).run()


async def tonight(db: Database) -> None:
    """Eight calls and five agents whose figures are worked out by hand in the test below."""
    await add_call("c1", "0751", at(19, 0), "done", answered_at=at(19, 0, 30), ended_at=at(19, 5))
    await add_call("c2", "0751", at(19, 10), "answered", answered_at=at(19, 12))
    await add_call("c3", "0615", at(19, 20), "abandoned", abandoned_at=at(19, 22))
    await add_call("c4", "0615", at(19, 25), "queued")
    await add_call("c5", "0727", at(19, 28), "ringing")
    await add_call("c6", "0147", at(18, 0), "callback", mode="non_member", callback_requested_at=at(18, 4))
    await add_call("c7", "", at(17, 0), "done", mode="unknown", answered_at=at(17, 0, 10), ended_at=at(17, 3))
    await add_call("c8", "0751", at(15, 0), "done", answered_at=at(15, 1), ended_at=at(15, 4))  # before 16:00
    await add_agent(1, "0751", "available")
    await add_agent(2, "0615", "available")
    await add_agent(3, "0751", "on_call")
    await add_agent(4, "0727", "pause")
    await add_agent(5, "0751", "offline")


def test_tonight_starts_at_four_on_weekdays_and_eight_at_weekends() -> None:
    assert wallboard.evening_start(NOW) == at(16, 0).astimezone(dt.UTC)
    # Before 16:00 on a weekday the board still shows the previous evening.
    assert wallboard.evening_start(at(11, 0)) == dt.datetime(2026, 11, 24, 16, 0, tzinfo=CPH)
    saturday = dt.datetime(2026, 11, 28, 10, 0, tzinfo=CPH)
    assert wallboard.evening_start(saturday) == dt.datetime(2026, 11, 28, 8, 0, tzinfo=CPH)
    monday_early = dt.datetime(2026, 11, 30, 7, 0, tzinfo=CPH)
    assert wallboard.evening_start(monday_early) == dt.datetime(2026, 11, 29, 8, 0, tzinfo=CPH)
    # Summer time: 16:00 local is 14:00 UTC.
    assert wallboard.evening_start(dt.datetime(2026, 6, 3, 20, 0, tzinfo=CPH)) == dt.datetime(
        2026, 6, 3, 14, 0, tzinfo=dt.UTC
    )


async def test_the_figures_match_the_hand_computed_evening(db: Database) -> None:
    await tonight(db)
    snapshot = await wallboard.compute(NOW, names={"0751": "Aarhus Kommune", "0615": "Horsens Kommune"})
    assert snapshot.waiting == 2  # c4 and c5
    assert snapshot.longest_wait == 5 * 60  # c4, offered 19:25
    assert snapshot.agents == {"available": 2, "ringing": 0, "on_call": 1, "wrap_up": 0, "pause": 1}
    assert snapshot.on_shift == 4
    assert snapshot.offered == 7  # c8 came before 16:00
    assert (snapshot.answered, snapshot.abandoned, snapshot.callbacks) == (3, 1, 1)
    assert snapshot.answered_in_time == 2  # c1 (30 s) and c7 (10 s); c2 took 120 s
    assert snapshot.service_level == pytest.approx(2 / 5)
    assert (snapshot.non_member, snapshot.unknown) == (1, 1)
    assert [(k.code, k.name, k.calls) for k in snapshot.per_kommune] == [
        ("0615", "Horsens Kommune", 2),
        ("0751", "Aarhus Kommune", 2),
        ("", "", 1),
        ("0147", "0147", 1),
        ("0727", "0727", 1),
    ]
    history = snapshot.waiting_history
    assert len(history) == 61
    # Index i is (60 - i) minutes ago: 18:30 nobody, 19:11 c2, 19:21 c3, 19:26 c4, 19:29 c4 and c5, now c4 and c5.
    assert (history[0], history[41], history[51], history[56], history[59], history[60]) == (0, 1, 1, 1, 2, 2)
    # Minute samples inside each wait: c1 19:00; c2 19:10, 19:11; c3 19:20, 19:21; c4 19:25-19:30; c5 19:28-19:30.
    assert sum(history) == 1 + 2 + 2 + 6 + 3


async def test_a_kommune_board_counts_only_that_kommune(db: Database) -> None:
    await tonight(db)
    snapshot = await wallboard.compute(NOW, "0615")
    assert (snapshot.waiting, snapshot.longest_wait, snapshot.offered, snapshot.abandoned) == (1, 300, 2, 1)
    assert snapshot.agents["available"] == 1
    assert snapshot.on_shift == 1
    assert snapshot.service_level == 0.0
    assert [k.code for k in snapshot.per_kommune] == ["0615"]


async def test_an_empty_evening_has_no_service_level(db: Database) -> None:
    snapshot = await wallboard.compute(NOW)
    assert (snapshot.waiting, snapshot.offered, snapshot.service_level) == (0, 0, None)
    charts = wallboard.charts(snapshot, "other", "unknown")
    assert charts.kommune_bars == []
    assert charts.sparkline_max == 0


async def test_one_computation_per_tick_serves_every_viewer(db: Database) -> None:
    await tonight(db)
    hub = wallboard.WallboardHub(tick=30)
    first = await asyncio.gather(*(hub.snapshot(NOW) for _ in range(20)))
    assert hub.computations == 1
    assert all(s is first[0] for s in first)
    await hub.snapshot(NOW, "0615")
    assert hub.computations == 2  # a kommune's board is its own scope
    hub.tick = 0
    await add_call("c9", "0751", at(19, 29), "queued")
    assert (await hub.snapshot(NOW)).waiting == 3
    assert hub.computations == 3


def test_bars_are_scaled_to_the_busiest_kommune_and_the_rest_is_grouped() -> None:
    counts = [wallboard.KommuneCount(f"0{n:03d}", f"K{n} Kommune", 30 - 2 * n) for n in range(15)]
    snapshot = wallboard.Snapshot(
        at=NOW, since=NOW, kommune="", waiting=3, longest_wait=0,
        agents={"available": 1, "on_call": 3}, offered=0, answered=0, abandoned=0, callbacks=0,
        answered_in_time=0, non_member=0, unknown=0, per_kommune=counts, waiting_history=[0, 2, 4],
    )  # fmt: skip
    charts = wallboard.charts(snapshot, "Others", "Unknown")
    assert len(charts.kommune_bars) == wallboard.TOP_KOMMUNER + 1
    assert charts.kommune_bars[0].width == wallboard.BAR_WIDTH  # 30 calls: the longest bar
    assert charts.kommune_bars[1].width == wallboard.BAR_WIDTH * 28 / 30
    assert charts.kommune_bars[0].label == "K0"  # every bar is a kommune: the name is enough
    assert charts.kommune_bars[-1].label == "Others"
    assert charts.kommune_bars[-1].value == 6 + 4 + 2
    assert charts.gauge_waiting == wallboard.GAUGE_WIDTH
    assert charts.gauge_available == wallboard.GAUGE_WIDTH / 3
    assert charts.sparkline.split() == ["0.0,116.0", "300.0,60.0", "600.0,4.0"]


# -- HTTP: access and the live stream ---------------------------------------------------------------------


async def sign_in(client: httpx.AsyncClient, grants: list[Grant], home: str, now: dt.datetime) -> None:
    client.cookies.clear()
    client.cookies.set("hotline_session", await session_cookie_for(grants, home, now=now))


COORDINATOR = [Grant("coordinator", EVERY_KOMMUNE), Grant("agent", "0751")]


async def test_the_coordinator_sees_the_board_drawn_with_the_figures(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    clock.now = NOW
    await tonight(None)  # type: ignore[arg-type]
    await sign_in(client, COORDINATOR, "0751", clock.now)
    response = await client.get("/wallboard")
    assert response.status_code == 200
    page = response.text
    assert figure(page, "waiting") == "2"
    assert figure(page, "offered") == "7"
    assert 'aria-live="polite"' in page
    assert "2 venter" in page
    assert page.count('<svg class="wb-svg"') == 4
    assert 'sse-connect="/wallboard/events"' in page
    assert "style=" not in page
    assert "<script>" not in page
    english = await client.get("/wallboard?lang=en")
    assert "Calls per kommune tonight" in english.text
    one_kommune = await client.get("/wallboard?kommune=0727")
    assert one_kommune.status_code == 200
    assert figure(one_kommune.text, "waiting") == "1"


def figure(html: str, name: str) -> str:
    match = re.search(
        rf'data-figure="{name}">(?:\s*<span class="wb-label">[^<]*</span><span class="wb-value">)?(\d+)', html
    )
    assert match, f"no figure {name}"
    return match.group(1)


async def denials() -> list[dict[str, Any]]:
    return await AuditEntry.select().where(AuditEntry.action == audit.PERMISSION_DENIED).run()


async def test_agents_are_refused_and_admins_see_only_their_own_kommune(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await sign_in(client, [Grant("agent", EVERY_KOMMUNE)], "0751", clock.now)
    assert (await client.get("/wallboard")).status_code == 403
    assert (await client.get("/wallboard/events")).status_code == 403

    await sign_in(client, [Grant("kommune_admin", "0615")], "0615", clock.now)
    own = await client.get("/wallboard")
    assert own.status_code == 303
    assert own.headers["location"] == "/wallboard?kommune=0615"
    assert (await client.get("/wallboard?kommune=0615")).status_code == 200
    before = len(await denials())
    other = await client.get("/wallboard?kommune=0751", headers={"accept": "application/json"})
    assert other.status_code == 403
    assert "own admins" in other.json()["detail"]
    refused = await denials()
    assert len(refused) == before + 1
    assert refused[-1]["kommune_code"] == "0751"
    assert (await client.get("/wallboard/events?kommune=0751")).status_code == 403

    bad = await client.get("/wallboard?kommune=aarhus", headers={"accept": "application/json"})
    assert bad.status_code == 400
    assert "kommune" in bad.text

    client.cookies.clear()
    assert (await client.get("/wallboard", headers={"accept": "application/json"})).status_code == 401


async def test_without_an_event_stream_accept_header_one_round_is_sent(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    clock.now = NOW
    await tonight(None)  # type: ignore[arg-type]
    await sign_in(client, [Grant("kommune_admin", "0615")], "0615", clock.now)
    response = await client.get("/wallboard/events")  # a kommune admin's stream is their own kommune's
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = re.findall(r"^event: (\w+)", response.text, flags=re.MULTILINE)
    assert events == ["wallboard", "summary"]
    assert "data: 1 venter" in response.text


async def read_events(
    app: Litestar, path: str, cookie: str, wanted: int, on_event: Any
) -> tuple[list[tuple[str, str]], list[str]]:
    """Drive the ASGI app as a browser's EventSource would, until ``wanted`` events arrived, then disconnect."""
    events: list[tuple[str, str]] = []
    retries: list[str] = []
    buffer = ""
    done = asyncio.Event()
    status: list[int] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal buffer
        if message["type"] == "http.response.start":
            status.append(message["status"])
            return
        buffer += message.get("body", b"").decode()
        if not message.get("more_body", False):
            done.set()  # the server ended the stream: like a real server, report the connection closed
        while "\r\n\r\n" in buffer:
            block, buffer = buffer.split("\r\n\r\n", 1)
            kind = re.search(r"^event: (\S+)", block, flags=re.MULTILINE)
            retry = re.search(r"^retry: (\d+)", block, flags=re.MULTILINE)
            if retry:
                retries.append(retry.group(1))
            data = "\n".join(line[6:] for line in block.split("\r\n") if line.startswith("data: "))
            if kind and not done.is_set():
                events.append((kind.group(1), data))
                await on_event(events)
                if len(events) >= wanted:
                    done.set()

    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver.local"), (b"accept", b"text/event-stream"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver.local", 80),
        "state": {},
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=20)  # type: ignore[arg-type]
    assert status == [200]
    return events, retries


async def test_the_stream_pushes_a_new_board_when_the_queue_changes(
    app: Litestar, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    clock.now = NOW
    await tonight(None)  # type: ignore[arg-type]
    wallboard.hub_of(app).tick = 0.05
    cookie = f"hotline_session={await session_cookie_for(COORDINATOR, '0751', now=clock.now)}"

    async def on_event(events: list[tuple[str, str]]) -> None:
        if len(events) == 1:  # after the first board: a third caller starts waiting
            await add_call("c9", "0751", at(19, 29, 30), "queued")

    events, _ = await read_events(app, "/wallboard/events", cookie, 6, on_event)
    boards = [data for kind, data in events if kind == "wallboard"]
    summaries = [data for kind, data in events if kind == "summary"]
    assert figure(boards[0], "waiting") == "2"
    assert figure(boards[-1], "waiting") == "3"
    # The summary for screen readers is sent when it changes, not on every tick.
    assert summaries[0].startswith("2 venter")
    assert summaries[-1].startswith("3 venter")
    assert len(summaries) == 2


def test_every_wallboard_text_exists_in_both_languages_and_every_one_used_is_defined() -> None:
    assert set(wallboard.TEXTS["da"]) == set(wallboard.TEXTS["en"])
    templates = Path(wallboard.__file__).resolve().parents[1] / "web" / "templates" / "calls"
    used: set[str] = set()
    for template in templates.glob("wallboard*.html"):
        text = template.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bw\.([a-z_]+)", text))
        used |= {f"state.{state}" for state in wallboard.PRESENCE_STATES} if "w['state.' ~" in text else set()
    assert used
    assert used - set(wallboard.TEXTS["da"]) == set()


@pytest.mark.browser
async def test_the_board_updates_live_in_the_browser(
    served: tuple[Litestar, str],  # noqa: F811 - the fixture imported above
    clock: FixedClock,
) -> None:
    """Headless Chromium with the vendored htmx SSE extension: a new caller appears on the open board by itself,
    and the screen-reader summary follows."""
    app, base = served
    clock.now = NOW
    await tonight(None)  # type: ignore[arg-type]
    wallboard.hub_of(app).tick = 0.2
    session = await session_cookie_for(COORDINATOR, "0751", now=clock.now)
    async with signed_in_page(base, session) as (page, problems):
        await page.goto("/wallboard")
        waiting = page.locator('[data-figure="waiting"] .wb-value')
        assert await waiting.inner_text() == "2"
        await add_call("c9", "0751", at(19, 29, 30), "queued")
        await page.locator('[data-figure="waiting"] .wb-value', has_text="3").wait_for(timeout=10_000)
        summary = page.locator("[aria-live=polite]")
        await page.wait_for_function("document.querySelector('[aria-live=polite]').textContent.startsWith('3')")
        assert (await summary.inner_text()).startswith("3 venter")
        assert problems == []  # no CSP violation, no script error


async def test_a_stream_ends_after_its_lifetime_and_tells_the_browser_to_reconnect(
    app: Litestar, client: httpx.AsyncClient, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wallboard, "STREAM_LIFETIME", 0.3)
    wallboard.hub_of(app).tick = 0.05
    cookie = f"hotline_session={await session_cookie_for(COORDINATOR, '0751', now=clock.now)}"

    async def on_event(events: list[tuple[str, str]]) -> None:
        pass

    events, retries = await read_events(app, "/wallboard/events", cookie, 10_000, on_event)  # ends by itself
    assert 2 < len([kind for kind, _ in events if kind == "wallboard"]) < 20
    assert retries == ["2000"]  # once, on the first event


def test_the_wallboard_texts_live_with_the_calls_areas_other_texts() -> None:
    from hotline.calls.messages import MESSAGES
    from hotline.web.i18n import translate

    for language in ("da", "en"):
        ours = {key.removeprefix("wallboard."): text for key, text in MESSAGES[language].items()}
        assert {key: ours[key] for key in wallboard.TEXTS[language]} == wallboard.TEXTS[language]
    assert translate("en", "wallboard.per_kommune") == "Calls per kommune tonight"
    assert translate("da", "wallboard.per_kommune") == "Opkald pr. kommune i aften"


async def test_the_english_wallboard_and_its_stream_are_english_throughout(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    clock.now = NOW
    await tonight(None)  # type: ignore[arg-type]
    await sign_in(client, COORDINATOR, "0751", clock.now)
    danish_only = {
        text
        for key, text in wallboard.TEXTS["da"].items()
        if text != wallboard.TEXTS["en"][key] and "{" not in text and len(text) > 3
    }
    assert "Opkald pr. kommune i aften" in danish_only

    page = (await client.get("/wallboard?lang=en")).text
    assert 'sse-connect="/wallboard/events?lang=en"' in page  # a wall screen without the cookie stays English
    assert '<html lang="en">' in page
    board = page[page.index('<div class="wallboard">') :]
    assert [text for text in danish_only if text in board] == []
    assert "2 waiting, longest wait" in board
    assert "Calls per kommune tonight" in board

    client.cookies.delete("hotline_lang")
    stream = (await client.get("/wallboard/events?lang=en")).text
    assert "event: summary" in stream
    assert [text for text in danish_only if text in stream] == []
    assert "2 waiting, longest wait" in stream
    kommune = (await client.get("/wallboard?kommune=0727&lang=en")).text
    assert 'sse-connect="/wallboard/events?kommune=0727&amp;lang=en"' in kommune
    assert 'sse-connect="/wallboard/events"' in (await client.get("/wallboard?lang=da")).text
