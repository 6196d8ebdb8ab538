"""The statements each step of a call costs: an offered event, an answer and a wrap-up. Every statement on
PostgreSQL is a network round trip in production, and at 100 calls a second they are most of the screen-pop's
latency, so the budget is held by a test: a change that adds a statement to the hot path fails here and has to
say why (and raise the budget) rather than slip in."""

from __future__ import annotations

import asyncio
from typing import Any

import aiosqlite
import asyncpg
import httpx
import pytest

from hotline.calls.tables import Call
from hotline.calls.telephony import Offered
from tests.calls.conftest import AARHUS_NUMBER, Agent, Telephony, make_agent
from tests.fixtures.app import FixedClock
from tests.fixtures.databases import Database

# Statements, BEGIN and COMMIT included, once the process is warm (secrets cached, routing index loaded).
BUDGET = {
    "postgres": {"offered": 9, "answer": 4, "wrap_up": 5},
    "sqlite": {"offered": 10, "answer": 6, "wrap_up": 7},  # no round trips here: the presence move takes three
}


class Statements:
    """What the test's own task sends (the app runs in it, through httpx's ASGI transport); the app's background
    loops (outbox pollers) run in tasks of their own and are not counted."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.task: asyncio.Task[Any] | None = None

    def saw(self, statement: str) -> None:
        if asyncio.current_task() is self.task and not statement.startswith("PRAGMA"):  # SQLite's per-connection
            self.seen.append(statement)

    def take(self) -> list[str]:
        self.task = asyncio.current_task()
        seen, self.seen = self.seen, []
        return seen


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Statements:
    """Counts what the drivers send: asyncpg's executions (with or without arguments) and aiosqlite's."""
    counter = Statements()
    do_execute = asyncpg.connection.Connection._do_execute
    execute = asyncpg.connection.Connection.execute
    sqlite_execute = aiosqlite.Connection.execute

    async def counted_do_execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        counter.saw(query)
        return await do_execute(self, query, *args, **kwargs)

    async def counted_execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if not args:  # with arguments it goes through _do_execute, counted there
            counter.saw(query)
        return await execute(self, query, *args, **kwargs)

    def counted_sqlite_execute(self: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        counter.saw(sql)
        return sqlite_execute(self, sql, *args, **kwargs)

    monkeypatch.setattr(asyncpg.connection.Connection, "_do_execute", counted_do_execute)
    monkeypatch.setattr(asyncpg.connection.Connection, "execute", counted_execute)
    monkeypatch.setattr(aiosqlite.Connection, "execute", counted_sqlite_execute)
    return counter


async def _ringing_agent(call_id: str, agents: list[Agent]) -> Agent:
    row = await Call.select(Call.ring_agent_id, Call.status).where(Call.call_id == call_id).first()
    assert row is not None
    assert row["status"] == "ringing"
    return next(agent for agent in agents if agent.user_id == row["ring_agent_id"])


async def test_a_call_costs_its_budget_of_statements(
    http: httpx.AsyncClient, telephony: Telephony, clock: FixedClock, statements: Statements, demo_federation: Database
) -> None:
    agents = [await make_agent(http, clock, f"Agent {n}") for n in range(3)]
    for agent in agents:
        assert (await agent.presence("available")).status_code == 200
    budget = BUDGET[demo_federation.backend]
    for n in range(3):  # the first call warms the caches (webhook secret, routing index); the others count
        call_id = f"budget-{n}"
        statements.take()
        offered = await telephony.post(
            Offered(call_id=call_id, at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000000")
        )
        assert offered.status_code == 200
        spent_offered = statements.take()
        agent = await _ringing_agent(call_id, agents)
        statements.take()
        assert (await agent.answer(call_id)).status_code == 200
        spent_answer = statements.take()
        wrapped = await agent.wrap_up(call_id, outcome="solved", topic="pas", notes="")
        assert wrapped.status_code == 200
        assert wrapped.json()["status"] == "done"
        spent_wrap_up = statements.take()
        if n == 0:
            continue
        assert len(spent_offered) <= budget["offered"], spent_offered
        assert len(spent_answer) <= budget["answer"], spent_answer
        assert len(spent_wrap_up) <= budget["wrap_up"], spent_wrap_up
