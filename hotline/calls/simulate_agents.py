"""Simulated agents for ``hotline simulate --agents N``: each signs in through the development identity provider
(demo mode only) as the agent of a different member kommune, goes available, listens to the console's live stream
and takes every screen-pop the way a person at the console would: answer after a ring, talk, hang up, wrap up.

They use exactly the routes a browser uses (``/auth/login``, ``/api/console/...`` with the CSRF header,
``/console/events``), so a run exercises sign-in, presence, assignment and the screen-pop end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import TYPE_CHECKING, Any, Final

import httpx

from hotline.calls.simulate import SimulateError, Telephony

if TYPE_CHECKING:
    from hotline.calls.simulate import PlannedCall, Simulation

CALL_ID: Final = re.compile(r'data-call-id="([^"]+)"')
CSRF_COOKIE: Final = "hotline_csrf"
HUMAN_KOMMUNER: Final = frozenset({"0727", "0751", "0615"})
"""The kommuner of the sign-in page's demo shortcuts: left to the people trying the demo, so a simulated agent is
never the same user as the person at the console."""
SHORT_CALL: Final = 60.0
"""Simulated seconds an agent spends on a call that is not one of this run's callers (e.g. a callback)."""


class SimulatedAgent:
    def __init__(self, simulation: Simulation, kommune: str, line: Telephony) -> None:
        self.simulation, self.kommune, self.line = simulation, kommune, line
        self.http = httpx.AsyncClient(base_url=simulation.options.url, timeout=30)
        self.task: asyncio.Task[None] | None = None
        self.handling: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()
        self.closing = False
        self.user_id: int | None = None
        """The agent's hotline user id, when the console tells it (then the platform's ``answered`` carries it)."""

    async def sign_in(self) -> None:
        started = await self.http.get(f"/auth/login/{self.kommune}", params={"next": "/console"})
        authorize = started.headers.get("location", "")
        if started.status_code not in (302, 303, 307) or "/dev-idp/" not in authorize:
            raise SimulateError(
                f"--agents needs an instance in demo mode with the development sign-in (hotline demo): "
                f"/auth/login/{self.kommune} answered {started.status_code}"
            )
        approved = await self.http.get(authorize.replace("/authorize?", "/approve?", 1) + "&persona=agent")
        back = await self.http.get(approved.headers.get("location", ""))
        if back.status_code not in (302, 303):
            raise SimulateError(f"--agents: signing in as the agent of {self.kommune} failed ({back.status_code})")
        await self.http.get("/tenants")  # the CSRF cookie that unsafe requests must echo

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        csrf = self.http.cookies.get(CSRF_COOKIE) or ""
        return await self.http.post(path, json=body or {}, headers={"x-csrftoken": csrf})

    async def available(self) -> None:
        response = await self.post("/api/console/presence", {"state": "available", "languages": ["da", "en"]})
        if response.status_code != 200:
            raise SimulateError(
                f"--agents: the console refused presence ({response.status_code}: {response.text[:200]})"
            )
        user_id = response.json().get("user_id")
        self.user_id = user_id if isinstance(user_id, int) and user_id > 0 else self.user_id

    async def start(self) -> None:
        await self.sign_in()
        self.task = asyncio.create_task(self.listen())
        # Available only once the live connection is open, so no screen-pop is missed.
        await asyncio.wait_for(self.connected.wait(), 10)
        await self.available()

    async def listen(self) -> None:
        headers = {"accept": "text/event-stream"}
        async with self.http.stream("GET", "/console/events", headers=headers, timeout=None) as response:
            if response.status_code != 200:
                self.simulation.report.errors.append(f"console stream answered {response.status_code}")
                self.connected.set()
                return
            self.connected.set()
            event, data = "", []
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                elif not line:
                    if event:
                        self.on_event(event, "\n".join(data))
                    event, data = "", []

    def on_event(self, event: str, data: str) -> None:
        if self.closing:
            return
        if event == "screen-pop":
            match = CALL_ID.search(data)
            if match:
                task = asyncio.create_task(self.take(match.group(1)))
                self.handling.add(task)
                task.add_done_callback(self.handling.discard)
        elif event == "presence" and "pause" in data:
            # A ring that timed out sends the agent to pause; a simulated agent comes straight back.
            task = asyncio.create_task(self.available())
            self.handling.add(task)
            task.add_done_callback(self.handling.discard)

    async def take(self, call_id: str) -> None:
        simulation = self.simulation
        call = simulation.claim(call_id)
        try:
            await simulation.pause(call.ring if call else 3.0)
            answered = await self.post(f"/api/console/calls/{call_id}/answer")
            if answered.status_code == 409:
                simulation.report.missed += 1  # the caller hung up, or the ring timed out, before the answer
                return
            if answered.status_code != 200:
                simulation.report.errors.append(f"answer {call_id}: {answered.status_code}")
                return
            if call is not None:
                simulation.report.answered_by_agents += 1
                await self.converse(call, call_id)
            else:
                simulation.report.callbacks_made += 1  # a callback (outbound: the platform reports nothing)
                await simulation.pause(SHORT_CALL)
            await simulation.pause(call.wrap_up if call else 10.0)
            await self.wrap_up(call_id, call)
        except (SimulateError, httpx.HTTPError) as exc:
            simulation.report.errors.append(f"agent {self.kommune} on {call_id}: {type(exc).__name__}: {exc}"[:200])
        finally:
            simulation.finished(call_id)

    async def converse(self, call: PlannedCall, call_id: str) -> None:
        if call.transfer_to:
            # The agent picks the department in the console; the platform then reports the transfer.
            await self.post(f"/api/console/calls/{call_id}/transfer", {"to_number": call.transfer_to})
        await self.simulation.converse(self.line, call, call_id, agent_id=self.user_id)

    async def wrap_up(self, call_id: str, call: PlannedCall | None) -> None:
        body: dict[str, Any] = {
            "outcome": call.outcome if call else "solved",
            "topic": call.topic if call else "",
            "notes": "Simuleret samtale.",
        }
        response = await self.post(f"/api/console/calls/{call_id}/wrap-up", body)
        if response.status_code in (400, 422) and body["topic"]:
            body["topic"] = ""  # a topic the instance's taxonomy does not know
            response = await self.post(f"/api/console/calls/{call_id}/wrap-up", body)
        if response.status_code != 200:
            self.simulation.report.errors.append(f"wrap-up {call_id}: {response.status_code}")
            return
        self.simulation.report.wrapped_up += 1

    async def stop(self) -> None:
        """Finish the calls in hand (taking no new ones), then go offline and close the live connection."""
        self.closing = True
        if self.handling:
            speed = self.simulation.options.speed
            await asyncio.wait(set(self.handling), timeout=(SHORT_CALL + 20.0) / speed + 2.0)
        for task in list(self.handling):
            task.cancel()
        with contextlib.suppress(httpx.HTTPError):
            await self.post("/api/console/presence", {"state": "offline"})
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self.task
        await self.http.aclose()


async def start_agents(simulation: Simulation, count: int) -> list[SimulatedAgent]:
    """``count`` agents from different member kommuner, signed in and available."""
    kommuner = tuple(code for code in simulation.directory.identity_kommuner if code not in HUMAN_KOMMUNER)
    if not kommuner:
        raise SimulateError("--agents: no member kommune in --tenants has a sign-in set up")
    line = Telephony(simulation.http, simulation.options.kommune, simulation.options.secret, simulation.report)
    agents = [SimulatedAgent(simulation, kommuner[index % len(kommuner)], line) for index in range(count)]
    if count > len(kommuner):
        raise SimulateError(f"--agents: at most {len(kommuner)} (one per member kommune with a sign-in)")
    started: list[SimulatedAgent] = []
    try:
        for agent in agents:
            await agent.start()
            started.append(agent)
    except BaseException:
        for agent in started:
            await agent.stop()
        raise
    return agents
